// The status page's HTTP server and poll loop (standalone mode): "/" is the page,
// "/status.json" its data. Plain HTTP meant for loopback, like the admin port.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { readTopologyFile, type Topology } from '../discovery/standalone-topology.js';
import type { IssuedCertificateLog } from './issued-certificates.js';
import { STATUS_PAGE_HTML } from './status-page-html.js';
import { buildStatusSnapshot, type ScrapeWindow, type StatusSnapshot } from './status-model.js';
import { readStatusTargets, type StatusTargets } from './status-targets.js';
import { probeEntrypoint, scrapeSidecar, type EntrypointProbe, type SidecarScrape } from './target-probes.js';

export interface StatusPageOptions {
  host: string;
  port: number;
  /** The standalone topology: the page draws the pods it names. */
  topologyFile: string | undefined;
  /** The sidecars and entry points to poll (status-targets.ts). */
  targetsFile: string | undefined;
  trustDomain: string;
  ca: () => { rootNotAfter: Date; issuerNotAfter: Date };
  certificates: IssuedCertificateLog;
  logger: Logger;
  /** Default 2000. */
  pollIntervalMs?: number;
  /** Rates are computed over about this long. Default 10 000. */
  rateWindowMs?: number;
}

export interface RunningStatusPage {
  readonly port: number;
  snapshot(): StatusSnapshot;
  stop(): Promise<void>;
}

const EMPTY_TOPOLOGY: Topology = { namespaces: [], pods: [], services: [], policies: [] };

export async function startStatusPage(options: StatusPageOptions): Promise<RunningStatusPage> {
  const targets: StatusTargets = options.targetsFile ? readStatusTargets(options.targetsFile) : { sidecars: [], entrypoints: [] };
  const pollMs = options.pollIntervalMs ?? 2000;
  const windowMs = options.rateWindowMs ?? 10_000;
  const sidecarHistory = new Map<string, SidecarScrape[]>();
  const entryHistory = new Map<string, EntrypointProbe[]>();

  const topology = (): Topology => {
    if (!options.topologyFile) return EMPTY_TOPOLOGY;
    try {
      return readTopologyFile(options.topologyFile);
    } catch {
      return EMPTY_TOPOLOGY;
    }
  };
  const windowOf = <T extends { at: number }>(history: T[] | undefined): ScrapeWindow<T> => ({ first: history?.[0], last: history?.at(-1) });
  const push = <T extends { at: number }>(map: Map<string, T[]>, key: string, value: T): void => {
    const history = map.get(key) ?? [];
    history.push(value);
    // Keep the newest reading plus those within the window (at least two for a rate).
    while (history.length > 2 && value.at - history[0]!.at > windowMs) history.shift();
    map.set(key, history);
  };
  const snapshot = (): StatusSnapshot => {
    const ca = options.ca();
    return buildStatusSnapshot({
      now: Date.now(),
      trustDomain: options.trustDomain,
      ca: { rootNotAfter: ca.rootNotAfter, issuerNotAfter: ca.issuerNotAfter },
      topology: topology(),
      targets,
      sidecars: new Map(targets.sidecars.map((s) => [s.pod, windowOf(sidecarHistory.get(s.pod))])),
      entrypoints: new Map(targets.entrypoints.map((e) => [e.name, windowOf(entryHistory.get(e.name))])),
      issued: options.certificates.recent(),
      issuedTotal: options.certificates.total,
    });
  };

  let polling: Promise<void> = Promise.resolve();
  const poll = async (): Promise<void> => {
    await Promise.all([
      ...targets.sidecars.map(async (s) => push(sidecarHistory, s.pod, await scrapeSidecar(s))),
      ...targets.entrypoints.map(async (e) => push(entryHistory, e.name, await probeEntrypoint(e))),
    ]);
  };
  const timer = setInterval(() => {
    polling = polling.then(poll).catch((error: unknown) => options.logger.error({ event: 'status_poll_failed', err: error }, 'status page poll failed'));
  }, pollMs);
  timer.unref();
  polling = poll();

  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0];
    response.setHeader('cache-control', 'no-store');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/' || path === '/index.html') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'" }).end(STATUS_PAGE_HTML);
    } else if (path === '/status.json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(snapshot(), null, 2));
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try / or /status.json\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ event: 'status_page_listening', host: options.host, port, sidecars: targets.sidecars.length, entrypoints: targets.entrypoints.length }, 'status page listening');
  return {
    port,
    snapshot,
    stop: async () => {
      clearInterval(timer);
      await polling.catch(() => undefined);
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
