// The client: HTTPS requests at a steady rate to the edge, trusting only the edge's CA, each
// checked for the app's answer to that very request.
import { Agent, request } from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface ClientStats {
  sent: number;
  ok: number;
  failed: number;
  /** TLS versions the edge negotiated, by count. */
  tlsVersions: Record<string, number>;
  lastError: string | undefined;
  firstAnswer: { body: string; tls: string; cipher: string } | undefined;
}

export interface ClientLoop {
  readonly stats: ClientStats;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

export function startClientLoop(options: { host: string; port: number; serverName: string; caPem: string; rate: number; timeoutMs?: number }): ClientLoop {
  const stats: ClientStats = { sent: 0, ok: 0, failed: 0, tlsVersions: {}, lastError: undefined, firstAnswer: undefined };
  const agent = new Agent({ keepAlive: true, maxSockets: 4, ca: options.caPem, servername: options.serverName });
  const inFlight = new Set<Promise<void>>();
  const one = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const fail = (message: string) => {
        stats.failed += 1;
        stats.lastError = `request ${n}: ${message}`;
        resolve();
      };
      const req = request(
        {
          host: options.host,
          port: options.port,
          path: `/orders/${n}`,
          agent,
          servername: options.serverName,
          headers: { 'x-demo-request': String(n) },
          timeout: options.timeoutMs ?? 5000,
        },
        (response) => {
          const socket = response.socket as TLSSocket;
          const tls = socket.getProtocol?.() ?? 'none';
          const cipher = socket.getCipher?.()?.name ?? '';
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => {
            let answer: { request?: unknown } = {};
            try {
              answer = JSON.parse(body) as { request?: unknown };
            } catch {
              // not the app's JSON: counted as a failure below
            }
            if (response.statusCode !== 200 || answer.request !== String(n)) return fail(`HTTP ${response.statusCode}: ${body.slice(0, 200)}`);
            if (!socket.authorized || tls === 'none') return fail('the edge connection was not verified TLS');
            stats.ok += 1;
            stats.tlsVersions[tls] = (stats.tlsVersions[tls] ?? 0) + 1;
            stats.firstAnswer ??= { body, tls, cipher };
            resolve();
          });
          response.on('error', (error) => fail(error.message));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error) => fail(error.message));
      req.end();
    });
  const timer = setInterval(() => {
    stats.sent += 1;
    const p = one(stats.sent);
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
  }, 1000 / options.rate);
  return {
    stats,
    stop: async () => {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      agent.destroy();
    },
  };
}
