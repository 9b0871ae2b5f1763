// A real Prometheus (the Debian package's /usr/bin/prometheus) on the node, for the
// observability scenario: its own config and TSDB in a temporary directory, the HTTP API on
// a free loopback port, stopped (and its directory removed) by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROMETHEUS_BINARY = '/usr/bin/prometheus';

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface PromTarget {
  readonly labels: Record<string, string>;
  readonly scrapeUrl: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
  readonly lastScrape: string;
}

export interface PrometheusServer {
  readonly url: string;
  /** Instant query; rejects on a PromQL error with Prometheus' message. */
  query(expr: string): Promise<PromSample[]>;
  /** The `data` of an instant query as Prometheus returns it (any result type), for diagnostics. */
  queryRaw(expr: string): Promise<unknown>;
  activeTargets(): Promise<PromTarget[]>;
  /** Every metric name in the TSDB. */
  metricNames(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** prometheus.yml contents. */
  readonly config: string;
  /** Prometheus' own log goes to `<logDir>/prometheus.log`. */
  readonly logDir: string;
  readonly binary?: string;
  readonly readyTimeoutMs?: number;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'reseal-e2e-prometheus-'));
  const configPath = join(dir, 'prometheus.yml');
  await writeFile(configPath, options.config);
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const log = createWriteStream(join(options.logDir, 'prometheus.log'), { flags: 'a' });
  const child: ChildProcess = spawn(
    options.binary ?? PROMETHEUS_BINARY,
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (error) => {
      exited = { code: null, signal: null };
      log.write(`spawn failed: ${error.message}\n`);
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (!exited && child.pid !== undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => log.end(resolve));
    await rm(dir, { recursive: true, force: true });
  };

  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await response.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.errorType ?? response.status}: ${body.error ?? ''}`);
    return body.data;
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`prometheus exited before it was ready (${JSON.stringify(exited)}); see ${join(options.logDir, 'prometheus.log')}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready at ${url} after ${options.readyTimeoutMs ?? 30_000} ms`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  return {
    url,
    query: async (expr) => {
      const data = await api<{ resultType: string; result: PromSample[] | [number, string] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      // A scalar result (e.g. `time()`) is one value without labels.
      if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
      return data.result as PromSample[];
    },
    queryRaw: (expr) => api<unknown>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    activeTargets: async () => (await api<{ activeTargets: PromTarget[] }>('/api/v1/targets?state=active')).activeTargets,
    metricNames: () => api<string[]>('/api/v1/label/__name__/values'),
    stop,
  };
}
