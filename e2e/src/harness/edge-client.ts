// The outside client: HTTPS to the ingress pod's 443 with the edge CA, as a browser would
// reach the shop (the host name resolved to the ingress pod's address).
import { request as httpsRequest } from 'node:https';

export interface EdgeTarget {
  readonly address: string;
  readonly port: number;
  readonly host: string;
  readonly caPem: string;
}

export interface EdgeResponse {
  readonly status: number;
  readonly body: string;
}

export function edgeRequest(target: EdgeTarget, path: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<EdgeResponse> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: target.address,
        port: target.port,
        servername: target.host,
        path,
        ca: target.caPem,
        headers: { host: target.host, ...headers },
        // A connection per request: each one is a fresh edge handshake, and nginx spreads
        // the requests over its upstream connections (and so over new mTLS handshakes).
        agent: false,
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

export interface LoadReport {
  readonly sent: number;
  readonly succeeded: number;
  /** Every failure with its time and cause: a test prints them all. */
  readonly failures: readonly string[];
}

export interface SteadyLoad {
  /** Stops sending, waits for the requests in flight, reports. */
  stop(): Promise<LoadReport>;
  /** Requests answered 200 so far. */
  succeeded(): number;
}

/** `ratePerSecond` requests per second until stopped, each with its own marker header. */
export function startSteadyLoad(target: EdgeTarget, ratePerSecond: number, label: string): SteadyLoad {
  let sent = 0;
  let succeeded = 0;
  const failures: string[] = [];
  const inFlight = new Set<Promise<void>>();
  const started = Date.now();
  const timer = setInterval(() => {
    const n = ++sent;
    const marker = `${label}-${n}`;
    const p = edgeRequest(target, `/load/${n}`, { 'x-e2e-marker': marker })
      .then((response) => {
        if (response.status === 200) succeeded += 1;
        else failures.push(`+${Date.now() - started} ms #${n}: HTTP ${response.status} ${response.body.slice(0, 200)}`);
      })
      .catch((error: unknown) => {
        failures.push(`+${Date.now() - started} ms #${n}: ${(error as Error).message}`);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }, 1000 / ratePerSecond);
  return {
    succeeded: () => succeeded,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      return { sent, succeeded, failures };
    },
  };
}
