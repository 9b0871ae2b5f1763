import { X509Certificate } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodePemAll } from '@reseal/core';
import type { Logger } from 'pino';
import type { IdentityStatus, IdentityStatusSource } from '../identity/workload-identity.js';
import type { MeshView } from '../mesh-view.js';
import { PROBE_KINDS, type AppProbe, type AppProbes, type ProbeKind } from './app-probes.js';
import { runProbe } from './probe-runner.js';

export const ADMIN_PORT = 15020;

export interface AdminServerOptions {
  logger: Logger;
  identity: IdentityStatusSource;
  /** Discovery; readiness waits for its first snapshot. */
  mesh: Pick<MeshView, 'synced'>;
  /** The Prometheus handler of createTelemetry(); /metrics answers 404 without it. */
  metricsHandler?: (request: IncomingMessage, response: ServerResponse) => void;
  /** The app containers' original probes (see parseAppProbes). */
  appProbes?: AppProbes;
  /** Default 0.0.0.0: kubelet reaches the admin port through the pod IP. */
  host?: string;
  /** Default 15020; 0 picks a free port. */
  port?: number;
  /** Where app probes are sent; default 127.0.0.1. */
  probeHost?: string;
  now?: () => number;
}

/**
 * The admin port (15020): health of the proxy itself, metrics, a read-only view of the
 * identity, and the app's own probes run from inside the pod. Everything here is either
 * public (certificates) or a yes/no; no handler can reach the private key, because the
 * identity exposes none.
 */
export class AdminServer {
  private readonly server: http.Server;
  private readonly probes: Map<string, Map<ProbeKind, AppProbe>>;
  private readonly now: () => number;
  private draining = false;
  private boundPort: number | undefined;

  constructor(private readonly options: AdminServerOptions) {
    this.now = options.now ?? Date.now;
    // Maps, not the config object: a container named "constructor" or "__proto__" must not find a prototype member.
    this.probes = new Map(
      Object.entries(options.appProbes ?? {}).map(([container, probes]) => [
        container,
        new Map(PROBE_KINDS.filter((kind) => probes[kind]).map((kind) => [kind, probes[kind]!] as const)),
      ]),
    );
    this.server = http.createServer((request, response) => this.handle(request, response));
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
    this.server.keepAliveTimeout = 5_000;
    this.server.maxHeadersCount = 64;
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error('admin server is not listening');
    return this.boundPort;
  }

  async start(): Promise<number> {
    const host = this.options.host ?? '0.0.0.0';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? ADMIN_PORT, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    this.options.logger.info({ event: 'admin_listening', host, port: this.boundPort }, 'admin server listening');
    return this.boundPort;
  }

  /** While draining (after SIGTERM), /ready fails so that endpoints drop this pod before its connections close. */
  setDraining(draining: boolean): void {
    this.draining = draining;
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    response.setHeader('cache-control', 'no-store');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      sendJson(response, 405, { error: `method ${request.method} not allowed; use GET` });
      return;
    }
    const path = (request.url ?? '/').split('?', 1)[0]!;
    try {
      if (path === '/live') return sendText(response, 200, 'alive\n');
      if (path === '/ready') return this.ready(response);
      if (path === '/metrics') return this.metrics(request, response);
      if (path === '/debug/identity') return sendJson(response, 200, this.debugIdentity());
      if (path === '/app-health' || path.startsWith('/app-health/')) {
        this.appHealth(path, response).catch((error: unknown) => this.fail(response, error));
        return;
      }
      sendJson(response, 404, { error: `no such endpoint: ${path.slice(0, 200)}`, endpoints: ['/live', '/ready', '/metrics', '/debug/identity', '/app-health/<container>/<liveness|readiness|startup>'] });
    } catch (error) {
      this.fail(response, error);
    }
  }

  private fail(response: ServerResponse, error: unknown): void {
    this.options.logger.error({ event: 'admin_handler_failed', err: error }, 'admin request failed');
    if (!response.headersSent) sendJson(response, 500, { error: 'internal error' });
    else response.destroy();
  }

  private ready(response: ServerResponse): void {
    const status = this.options.identity.status();
    const now = this.now();
    const reasons: string[] = [];
    if (this.draining) reasons.push('draining: the proxy is shutting down');
    if (!status.ready || !status.notAfter) reasons.push('no workload certificate yet');
    else if (now >= status.notAfter.getTime()) reasons.push(`workload certificate expired at ${status.notAfter.toISOString()}`);
    const synced = this.options.mesh.synced;
    if (!synced) reasons.push('discovery has not delivered its first snapshot');
    const body = {
      ready: reasons.length === 0,
      reasons,
      spiffeId: status.spiffeId,
      certificate: status.notAfter
        ? { serial: status.serial, notAfter: status.notAfter.toISOString(), expiresInSeconds: Math.floor((status.notAfter.getTime() - now) / 1000) }
        : null,
      discoverySynced: synced,
      renewal: renewalState(status),
    };
    sendJson(response, reasons.length === 0 ? 200 : 503, body);
  }

  private metrics(request: IncomingMessage, response: ServerResponse): void {
    if (!this.options.metricsHandler) {
      sendJson(response, 404, { error: 'metrics are not enabled' });
      return;
    }
    this.options.metricsHandler(request, response);
  }

  private debugIdentity(): object {
    const status = this.options.identity.status();
    const material = this.options.identity.current();
    return {
      spiffeId: status.spiffeId,
      ready: status.ready,
      certificate: material
        ? {
            serial: material.serial,
            notBefore: material.notBefore.toISOString(),
            notAfter: material.notAfter.toISOString(),
            expired: this.now() >= material.notAfter.getTime(),
            chain: describeCertificates(material.certificateChainPem),
            certificateChainPem: material.certificateChainPem,
          }
        : null,
      trustBundle: material ? { source: status.trustBundleSource, roots: describeCertificates(material.trustBundlePem), pem: material.trustBundlePem } : null,
      renewal: renewalState(status),
    };
  }

  private async appHealth(path: string, response: ServerResponse): Promise<void> {
    const segments = path.split('/').slice(2);
    if (segments.length !== 2 || !segments[0] || !segments[1]) {
      sendJson(response, 404, { error: 'expected /app-health/<container>/<liveness|readiness|startup>' });
      return;
    }
    let container: string;
    let kind: string;
    try {
      container = decodeURIComponent(segments[0]);
      kind = decodeURIComponent(segments[1]);
    } catch {
      sendJson(response, 404, { error: 'malformed percent-encoding in the path' });
      return;
    }
    if (!(PROBE_KINDS as readonly string[]).includes(kind)) {
      sendJson(response, 404, { error: `unknown probe ${JSON.stringify(kind)}; expected liveness, readiness or startup` });
      return;
    }
    const containerProbes = this.probes.get(container);
    if (!containerProbes) {
      sendJson(response, 404, { error: `no probes are configured for container ${JSON.stringify(container)}` });
      return;
    }
    const probe = containerProbes.get(kind as ProbeKind);
    if (!probe) {
      sendJson(response, 404, { error: `container ${JSON.stringify(container)} has no ${kind} probe` });
      return;
    }
    if (probe.exec) {
      sendJson(response, 404, { error: `the ${kind} probe of container ${JSON.stringify(container)} is an exec probe; exec probes are not rewritten and not run by the sidecar` });
      return;
    }
    const outcome = await runProbe(probe, { host: this.options.probeHost ?? '127.0.0.1' });
    if (!outcome.ok) this.options.logger.debug({ event: 'app_probe_failed', container, probe: kind, detail: outcome.detail }, 'app probe failed');
    sendJson(response, outcome.ok ? 200 : 503, { container, probe: kind, ok: outcome.ok, detail: outcome.detail });
  }
}

function renewalState(status: IdentityStatus): object {
  return {
    lastRenewal: status.lastRenewal?.toISOString() ?? null,
    lastRenewalAuth: status.lastRenewalAuth ?? null,
    lastAttempt: status.lastAttempt?.toISOString() ?? null,
    nextAttempt: status.nextAttempt?.toISOString() ?? null,
    consecutiveFailures: status.consecutiveFailures,
    lastError: status.lastError ?? null,
    renewals: status.renewals,
  };
}

function describeCertificates(pem: string): object[] {
  try {
    return decodePemAll(pem, ['CERTIFICATE'], 'certificates').map((der) => {
      const c = new X509Certificate(der);
      return {
        subject: c.subject,
        issuer: c.issuer,
        subjectAltName: c.subjectAltName ?? null,
        serial: c.serialNumber,
        notBefore: c.validFromDate.toISOString(),
        notAfter: c.validToDate.toISOString(),
        ca: c.ca,
        fingerprintSha256: c.fingerprint256,
      };
    });
  } catch {
    return [];
  }
}

function sendJson(response: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  response.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sendText(response: ServerResponse, code: number, text: string): void {
  response.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
