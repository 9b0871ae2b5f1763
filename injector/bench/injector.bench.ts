// bench:injector — admission latency under load. The webhook runs in its own process (as in
// a cluster, where the API server is elsewhere); 16 keep-alive HTTPS clients over loopback
// send realistic 3-6 KB pod AdmissionReviews.
//
// Headline (the JSON line): latency at a steady offered load (default 400 admissions/s, a
// very busy cluster's pod creation rate), each client on a fixed schedule; latency counts
// from when a request was due, so a stall is not hidden by the clients waiting it out.
// Then, for scale: the same clients back to back, which measures throughput, and latency
// that is mostly queueing behind 15 other requests. RESEAL_BENCH_NODE_FLAGS passes node flags
// to the webhook process (e.g. --max-semi-space-size=16) to compare GC settings.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateWorkloadKeyPair } from '@reseal/core';
import { CertificateAuthority } from '../../control-plane/src/ca/index.js';
import { benchPayloads } from './admission-payloads.js';

const CLIENTS = Number(process.env.RESEAL_BENCH_CLIENTS ?? 16);
const DURATION_MS = Number(process.env.RESEAL_BENCH_SECONDS ?? 5) * 1000;
const RATE = Number(process.env.RESEAL_BENCH_RATE ?? 400);
const SATURATION_MS = 3000;
const WARMUP_MS = 1000;

const dir = mkdtempSync(join(tmpdir(), 'reseal-injector-bench-'));
const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
const { publicKey, privateKey } = generateWorkloadKeyPair();
writeFileSync(join(dir, 'tls.crt'), ca.issueServingCertificate({ publicKey, dnsNames: ['localhost'], clientAuth: false }).chainPem);
writeFileSync(join(dir, 'tls.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));

// RESEAL_BENCH_PROFILE=DIR writes a CPU profile of the webhook process there.
const profile = process.env.RESEAL_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.RESEAL_BENCH_PROFILE}`] : [];
const nodeFlags = (process.env.RESEAL_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const server = spawn(process.execPath, [...profile, ...nodeFlags, '--import', 'tsx', fileURLToPath(new URL('./webhook-bench-server.ts', import.meta.url)), join(dir, 'tls.crt'), join(dir, 'tls.key')], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise<number>((resolve, reject) => {
  server.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  createInterface({ input: server.stdout }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
});

const payloads = benchPayloads();
const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS, ca: ca.trustBundlePem });

function admit(body: Buffer, since = performance.now()): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', servername: 'localhost', port, path: '/mutate', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        let size = 0;
        res.on('data', (chunk: Buffer) => (size += chunk.length));
        res.on('end', () => {
          if (res.statusCode !== 200 || size < 100) reject(new Error(`unexpected answer ${res.statusCode}, ${size} bytes`));
          else resolve(performance.now() - since);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Back to back until the deadline. */
async function closedLoopClient(index: number, until: number, record: (ms: number) => void): Promise<void> {
  let i = index;
  while (performance.now() < until) record(await admit(payloads[i++ % payloads.length] as Buffer));
}

/** One request every intervalMs (staggered per client); a late one is measured from when it was due. */
async function pacedClient(index: number, start: number, until: number, intervalMs: number, record: (ms: number) => void): Promise<void> {
  let due = start + (index * intervalMs) / CLIENTS;
  let i = index;
  while (due < until) {
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    record(await admit(payloads[i++ % payloads.length] as Buffer, due));
    due += intervalMs;
  }
}

function percentiles(latencies: number[]): { p50: number; p90: number; p99: number; max: number } {
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN);
  return { p50: pct(50), p90: pct(90), p99: pct(99), max: round(latencies.at(-1) ?? NaN) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

try {
  // Warm-up: TLS sessions and JIT back to back, then the measured pattern itself, so that the
  // heap growth and collections the burst causes are over before measuring starts.
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => closedLoopClient(i, performance.now() + WARMUP_MS / 2, () => undefined)));
  const warmStart = performance.now() + 10;
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => pacedClient(i, warmStart, warmStart + WARMUP_MS, (1000 * CLIENTS) / RATE, () => undefined)));
  const sizes = payloads.map((p) => p.length);
  console.log(`reseal-injector admission latency: ${CLIENTS} keep-alive HTTPS clients over loopback, AdmissionReviews of ${Math.min(...sizes)}-${Math.max(...sizes)} bytes`);

  const paced: number[] = [];
  const pacedStart = performance.now() + 10;
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => pacedClient(i, pacedStart, pacedStart + DURATION_MS, (1000 * CLIENTS) / RATE, (ms) => paced.push(ms))));
  const steady = percentiles(paced);
  console.log(`  steady ${RATE}/s for ${DURATION_MS / 1000} s: ${paced.length} admissions  p50 ${steady.p50} ms  p90 ${steady.p90} ms  p99 ${steady.p99} ms  max ${steady.max} ms`);

  const saturated: number[] = [];
  const satStart = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => closedLoopClient(i, satStart + SATURATION_MS, (ms) => saturated.push(ms))));
  const throughput = Math.round(saturated.length / ((performance.now() - satStart) / 1000));
  const busy = percentiles(saturated);
  console.log(`  saturated (back to back) for ${SATURATION_MS / 1000} s: ${throughput}/s  p50 ${busy.p50} ms  p99 ${busy.p99} ms  (queueing behind ${CLIENTS - 1} in-flight requests)`);
  console.log(JSON.stringify({ bench: 'injector', p50_ms: steady.p50, p99_ms: steady.p99 }));
} finally {
  agent.destroy();
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
