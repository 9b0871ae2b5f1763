// The I/O of the status page: one scrape of a sidecar's admin port, one TLS handshake with
// an entry point, one read of a stub_status page. Each resolves (never rejects) to what it saw.
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { parsePrometheusText, type Sample } from './prometheus-text.js';
import type { EntrypointTarget, SidecarTarget } from './status-targets.js';

export interface SidecarScrape {
  readonly at: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly samples: readonly Sample[];
  /** From /debug/identity. */
  readonly identity?: {
    spiffeId: string;
    serial: string | undefined;
    notAfter: string | undefined;
    renewals: { success: number; failure: number } | undefined;
    nextRenewal: string | undefined;
  };
}

export interface EntrypointProbe {
  readonly at: number;
  readonly ok: boolean;
  readonly error?: string;
  /** e.g. TLSv1.3 */
  readonly protocol?: string;
  readonly cipher?: string;
  readonly authorized?: boolean;
  readonly certificate?: { subject: string; issuer: string; notAfter: string; serial: string };
  /** The stub_status "requests" counter, when a status URL is configured and answered. */
  readonly requests?: number;
}

const TIMEOUT_MS = 1500;

export async function scrapeSidecar(target: SidecarTarget, now = Date.now): Promise<SidecarScrape> {
  try {
    const [metrics, identity] = await Promise.all([getText(`${target.adminUrl}/metrics`), getText(`${target.adminUrl}/debug/identity`)]);
    const parsed = JSON.parse(identity) as {
      spiffeId?: string;
      certificate?: { serial?: string; notAfter?: string } | null;
      renewal?: { renewals?: { success?: number; failure?: number }; nextAttempt?: string | null };
    };
    const renewals = parsed.renewal?.renewals;
    return {
      at: now(),
      ok: true,
      samples: parsePrometheusText(metrics),
      identity: {
        spiffeId: parsed.spiffeId ?? '',
        serial: parsed.certificate?.serial,
        notAfter: parsed.certificate?.notAfter,
        renewals: renewals ? { success: renewals.success ?? 0, failure: renewals.failure ?? 0 } : undefined,
        nextRenewal: parsed.renewal?.nextAttempt ?? undefined,
      },
    };
  } catch (error) {
    return { at: now(), ok: false, error: (error as Error).message, samples: [] };
  }
}

export async function probeEntrypoint(target: EntrypointTarget, now = Date.now): Promise<EntrypointProbe> {
  const url = new URL(target.url);
  let ca: string | undefined;
  try {
    ca = target.caFile ? readFileSync(target.caFile, 'utf8') : undefined;
  } catch (error) {
    return { at: now(), ok: false, error: `cannot read ${target.caFile}: ${(error as Error).message}` };
  }
  const handshake = new Promise<EntrypointProbe>((resolve) => {
    const socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      servername: target.serverName ?? url.hostname,
      ...(ca ? { ca } : {}),
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ at: now(), ok: false, error: 'TLS handshake timed out' });
    }, TIMEOUT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerX509Certificate();
      const result: EntrypointProbe = {
        at: now(),
        ok: socket.authorized,
        ...(socket.authorized ? {} : { error: `certificate not trusted: ${String(socket.authorizationError)}` }),
        protocol: socket.getProtocol() ?? undefined,
        cipher: socket.getCipher()?.name,
        authorized: socket.authorized,
        ...(peer ? { certificate: { subject: oneLine(peer.subject) || peer.subjectAltName || '', issuer: oneLine(peer.issuer), notAfter: new Date(peer.validTo).toISOString(), serial: peer.serialNumber } } : {}),
      };
      socket.end();
      resolve(result);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      resolve({ at: now(), ok: false, error: error.message });
    });
  });
  const [tls, requests] = await Promise.all([handshake, target.statusUrl ? readStubStatusRequests(target.statusUrl) : Promise.resolve(undefined)]);
  return requests === undefined ? tls : { ...tls, requests };
}

/** nginx stub_status: the third number of "server accepts handled requests". */
export function parseStubStatus(text: string): number | undefined {
  const lines = text.split('\n').map((l) => l.trim());
  const header = lines.findIndex((l) => l.startsWith('server accepts handled requests'));
  const numbers = header >= 0 ? lines[header + 1]?.split(/\s+/).map(Number) : undefined;
  const requests = numbers?.[2];
  return requests !== undefined && Number.isFinite(requests) ? requests : undefined;
}

async function readStubStatusRequests(statusUrl: string): Promise<number | undefined> {
  try {
    return parseStubStatus(await getText(statusUrl));
  } catch {
    return undefined;
  }
}

async function getText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  const body = await response.text();
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return body;
}

/** A distinguished name on one line; an empty subject (as in SVIDs) reads as undefined in Node. */
function oneLine(name: string | undefined): string {
  return (name ?? '').trim().replace(/\n/g, ', ');
}
