// The data-path bench: what a sidecar pair costs next to a direct connection and next to
// HAProxy doing the same mutual TLS hop, in one run on loopback.
//
//   node --import tsx bench/proxy.bench.ts          (npm run bench:proxy)
//
//   direct   loadgen ──────────────────────────────────────────────▶ origin
//   reseal   loadgen ─▶ outbound (node) ══ mTLS 1.3 ══▶ inbound (node) ─▶ origin
//   haproxy  loadgen ─▶ haproxy (tcp)   ══ mTLS 1.3 ══▶ haproxy (tcp)  ─▶ origin
//   reseal-notel   the reseal pair with telemetry off (no-op meter, no HTTP observation)
//
// Both pairs use the same ECDSA P-256 X.509-SVIDs from a Reseal CA, TLS 1.3 only, the
// same cipher-suite order (AES-128-GCM first) and X25519; each proxy is one process
// (HAProxy with nbthread 1, Node single-threaded). The load generator and the origin are
// a small Go program (bench/loadgen, built into bench/.bin), so that neither runs inside
// the measured processes. Scenarios: 1 and 64 keep-alive connections in a closed loop, and
// a fixed 1,000 req/s open loop; GET with a 1 kB response body.
//
// Per proxy process: CPU-seconds per 1,000 requests (utime+stime from /proc/<pid>/stat),
// RSS (VmRSS from /proc/<pid>/status, the largest seen after any run). The last line of
// stdout is one JSON object:
//   {"bench":"proxy","throughput_ratio_vs_haproxy":N,"cpu_per_request_ratio_vs_haproxy":N,
//    "added_p99_ms_at_1000rps":N,"rss_mb":N,"rss_anon_mb":N,"haproxy_rss_mb":N,
//    "haproxy_added_p99_ms_at_1000rps":N,"cpu_per_request_ratio_at_1000rps":N,
//    "telemetry_throughput_loss":N,"telemetry_cpu_overhead":N}
// (ratios at 64 connections, pair vs pair, unless named otherwise; rss_mb the larger Reseal
// process, rss_anon_mb its anonymous part: about 48 MB of a Reseal process's RSS are pages
// of the node binary, shared by every process that runs it; the haproxy_ figures are the
// peer's, from the same run, since on 2 shared cores the 1,000 req/s tail is noisy for both;
// telemetry_throughput_loss = 1 − req/s with telemetry ÷ req/s without, at 64 connections,
// and telemetry_cpu_overhead the CPU per request with ÷ without, − 1. The pair with
// telemetry is the production configuration: metrics SDK and HTTP/1.1 observation of
// every request, as the loadgen speaks HTTP/1.1.)
//
// The Reseal processes run bench/proxy-process.ts (explicit mode) bundled by esbuild into
// bench/.bin/reseal-proxy.mjs and started with plain node, as an image would ship it:
// running TypeScript through tsx at runtime adds ~15 MB RSS (its loader and esbuild), and
// @reseal/core's index loads gRPC (~27 MB) that the data path never uses, so the bundle
// treats core's modules as free of side effects and drops what is not imported
// (RESEAL_BENCH_LOADER=tsx runs the sources through tsx instead, for comparison).
//
// Knobs: RESEAL_BENCH_SECONDS (5), RESEAL_BENCH_WARMUP_SECONDS (1), RESEAL_BENCH_ROUNDS (1;
// with more, each figure is the median over rounds), RESEAL_BENCH_PROFILE=1 (write
// --cpu-prof profiles of both Reseal processes to bench/.bin/profiles),
// RESEAL_BENCH_NODE_FLAGS (node flags for the Reseal processes, default --max-semi-space-size=1).
// The Reseal processes get MALLOC_ARENA_MAX=2, as the image sets it (unless the environment
// has its own).
// Needs Go and HAProxy (Debian: apt-get install -y haproxy). Every process it starts is
// stopped on exit, on failure and on a watchdog (90 s of setup plus 8 s per measurement, with
// some slack: about 190 s for one round).

import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as connectTcp } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { generateWorkloadKeyPair } from '@reseal/core';
import { CertificateAuthority } from '../../control-plane/src/ca/index.js';
import { MESH_TLS_CONTEXT_OPTIONS, createMeshSecureContext } from '../src/proxy-core/mesh-tls-context.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SIDECAR = join(HERE, '..');
const BIN = join(HERE, '.bin');
const SECONDS = Number(process.env.RESEAL_BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.RESEAL_BENCH_WARMUP_SECONDS ?? 1);
const ROUNDS = Math.max(1, Number(process.env.RESEAL_BENCH_ROUNDS ?? 1));
const PROFILE = process.env.RESEAL_BENCH_PROFILE === '1';
// A 1 MiB young generation (V8's default grows to 16 MiB semi-spaces): the proxy's garbage
// is short-lived chunks, so scavenges stay cheap and RSS drops by ~5 MB at no measurable
// CPU cost. The sidecar's entry point should run with the same flag.
const DEFAULT_NODE_FLAGS = ['--max-semi-space-size=1'];
const EXTRA_NODE_FLAGS = process.env.RESEAL_BENCH_NODE_FLAGS === undefined ? DEFAULT_NODE_FLAGS : process.env.RESEAL_BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean);
const USE_TSX = process.env.RESEAL_BENCH_LOADER === 'tsx';
// As sidecar/Dockerfile: one malloc arena per V8 worker thread costs ~5 MB of RSS.
const PROXY_ENV = { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' };
// 4 systems × 3 scenarios per round, each a warm-up, a measured run and a pause.
const WATCHDOG_MS = (90 + ROUNDS * 12 * (SECONDS + WARMUP_SECONDS + 2)) * 1000;
const CLIENT_ID = 'spiffe://cluster.local/ns/bench/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/bench/sa/server';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const log = (line = '') => process.stdout.write(line + '\n');

// ---- process bookkeeping: everything started is stopped, whatever happens ----

const children = new Set<ChildProcess>();
let workDir: string | undefined;

function stopAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  workDir = undefined;
}

/** SIGTERM first (the Reseal processes then write their --cpu-prof profiles), SIGKILL after 3 s. */
async function stopGracefully(): Promise<void> {
  stopping = true;
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, 3000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  stopAll();
}

process.on('exit', stopAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    stopAll();
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  console.error(`proxy bench: still running after ${WATCHDOG_MS / 1000} s, stopping`);
  stopAll();
  process.exit(2);
}, WATCHDOG_MS);
watchdog.unref();

function start(command: string, args: string[], name: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: options.cwd ?? SIDECAR, env: options.env ?? process.env });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (code !== 0 && signal === null && !stopping) {
      console.error(`proxy bench: ${name} exited with ${code}\n${stderr.trim()}`);
    }
  });
  return child;
}
let stopping = false;

/** Resolves with the first stdout line matching `pattern`. */
function waitForLine(child: ChildProcess, pattern: RegExp, name: string, timeoutMs = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const m = pattern.exec(buffered);
      if (m) {
        clearTimeout(timer);
        child.stdout!.removeListener('data', onData);
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready`));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, name: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connectTcp({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} is not listening on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- /proc readings ----

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at state (field 3).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
}

/** VmRSS and its anonymous part (RssAnon: heap, buffers; the rest is mapped binaries, shared between processes). */
function rssMb(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon') };
}

// ---- setup ----

interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50_us: number;
  readonly p99_us: number;
  readonly first_error?: string;
}

interface System {
  readonly name: 'direct' | 'reseal' | 'reseal-notel' | 'haproxy';
  readonly port: number;
  /** The proxy processes, client side first. */
  readonly pids: readonly number[];
}

interface Scenario {
  readonly name: string;
  readonly conns: number;
  readonly rate: number;
}

const ALL_SCENARIOS: readonly Scenario[] = [
  { name: '1 conn', conns: 1, rate: 0 },
  { name: '64 conns', conns: 64, rate: 0 },
  { name: '1000 req/s', conns: 16, rate: 1000 },
];
// RESEAL_BENCH_ONLY=64 runs one scenario (for profiling); the summary line needs all three.
const ONLY = process.env.RESEAL_BENCH_ONLY;
const SCENARIOS = ONLY === undefined ? ALL_SCENARIOS : ALL_SCENARIOS.filter((s) => s.name.startsWith(ONLY));

function buildLoadgen(): string {
  mkdirSync(BIN, { recursive: true });
  const out = join(BIN, 'loadgen');
  execFileSync('go', ['build', '-o', out, '.'], { cwd: join(HERE, 'loadgen'), stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

function issue(ca: CertificateAuthority, spiffeId: string) {
  const { privateKey, publicKey } = generateWorkloadKeyPair();
  const issued = ca.issueWorkloadSvid({ publicKey, spiffeId, ttlSeconds: 3600 });
  return { spiffeId, keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, chainPem: issued.chainPem };
}

/** bench/proxy-process.ts and everything it imports, as one ES module for plain node. */
async function bundleProxy(): Promise<string> {
  const { build } = await import('esbuild');
  const out = join(BIN, 'reseal-proxy.mjs');
  const coreSources = join(SIDECAR, '..', 'core', 'src');
  await build({
    entryPoints: [join(HERE, 'proxy-process.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    logLevel: 'warning',
    // CommonJS dependencies (pino) call require().
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    plugins: [
      {
        name: 'core-side-effect-free',
        setup(b) {
          b.onResolve({ filter: /^@reseal\/core$/ }, () => ({ path: join(coreSources, 'index.ts'), sideEffects: false }));
          b.onResolve({ filter: /^\.\.?\// }, (args) =>
            args.importer.startsWith(coreSources) ? { path: join(args.resolveDir, args.path.replace(/\.js$/, '.ts')), sideEffects: false } : undefined,
          );
        },
      },
    ],
  });
  return out;
}

async function startReseal(dir: string, ca: CertificateAuthority, originPort: number, telemetry: 'sdk' | 'noop' = 'sdk'): Promise<System> {
  const name = telemetry === 'sdk' ? 'reseal' : 'reseal-notel';
  const nodeFlags = [...(USE_TSX ? ['--import', 'tsx'] : []), ...EXTRA_NODE_FLAGS];
  const profileDir = join(BIN, 'profiles');
  if (PROFILE) {
    mkdirSync(profileDir, { recursive: true });
    nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  const script = USE_TSX ? join(HERE, 'proxy-process.ts') : await bundleProxy();
  const server = issue(ca, SERVER_ID);
  writeFileSync(
    join(dir, `${name}-inbound.json`),
    JSON.stringify({ ...server, metrics: telemetry, trustBundlePem: ca.trustBundlePem, listeners: [{ direction: 'inbound', listen: '127.0.0.1:0', appPort: originPort }] }),
  );
  const inbound = start(process.execPath, [...nodeFlags, script, join(dir, `${name}-inbound.json`)], `${name} inbound`, { env: PROXY_ENV });
  const inboundPort = Number((await waitForLine(inbound, /ready (\d+)/, `${name} inbound`))[1]);
  const client = issue(ca, CLIENT_ID);
  writeFileSync(
    join(dir, `${name}-outbound.json`),
    JSON.stringify({
      ...client,
      metrics: telemetry,
      trustBundlePem: ca.trustBundlePem,
      listeners: [{ direction: 'outbound', listen: '127.0.0.1:0', destination: `127.0.0.1:${inboundPort}`, expectedIdentity: SERVER_ID }],
    }),
  );
  const outbound = start(process.execPath, [...nodeFlags, script, join(dir, `${name}-outbound.json`)], `${name} outbound`, { env: PROXY_ENV });
  const outboundPort = Number((await waitForLine(outbound, /ready (\d+)/, `${name} outbound`))[1]);
  await checkMeshHop(name, inboundPort, ca, client);
  return { name, port: outboundPort, pids: [outbound.pid!, inbound.pid!] };
}

async function startHaproxy(dir: string, ca: CertificateAuthority, originPort: number): Promise<System> {
  const suites = MESH_TLS_CONTEXT_OPTIONS.ciphers;
  const client = issue(ca, CLIENT_ID);
  const server = issue(ca, SERVER_ID);
  writeFileSync(join(dir, 'bundle.pem'), ca.trustBundlePem);
  writeFileSync(join(dir, 'client.pem'), client.chainPem + client.keyPem);
  writeFileSync(join(dir, 'server.pem'), server.chainPem + server.keyPem);
  const [outPort, inPort] = [await freePort(), await freePort()];
  const global = [
    'global',
    '    nbthread 1',
    '    maxconn 4096',
    '    ssl-default-bind-options ssl-min-ver TLSv1.3',
    `    ssl-default-bind-ciphersuites ${suites}`,
    '    ssl-default-server-options ssl-min-ver TLSv1.3',
    `    ssl-default-server-ciphersuites ${suites}`,
    'defaults',
    '    mode tcp',
    '    timeout connect 5s',
    '    timeout client 60s',
    '    timeout server 60s',
  ];
  writeFileSync(
    join(dir, 'haproxy-inbound.cfg'),
    [
      ...global,
      'frontend mesh_in',
      `    bind 127.0.0.1:${inPort} ssl crt ${join(dir, 'server.pem')} ca-file ${join(dir, 'bundle.pem')} verify required alpn reseal/1 curves X25519:P-256`,
      '    default_backend app',
      'backend app',
      `    server app 127.0.0.1:${originPort}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'haproxy-outbound.cfg'),
    [
      ...global,
      'frontend app_out',
      `    bind 127.0.0.1:${outPort}`,
      '    default_backend mesh',
      'backend mesh',
      `    server peer 127.0.0.1:${inPort} ssl verify required ca-file ${join(dir, 'bundle.pem')} crt ${join(dir, 'client.pem')} alpn reseal/1`,
      '',
    ].join('\n'),
  );
  const inbound = start('haproxy', ['-db', '-f', join(dir, 'haproxy-inbound.cfg')], 'haproxy inbound');
  await waitForPort(inPort, 'haproxy inbound');
  const outbound = start('haproxy', ['-db', '-f', join(dir, 'haproxy-outbound.cfg')], 'haproxy outbound');
  await waitForPort(outPort, 'haproxy outbound');
  await checkMeshHop('haproxy', inPort, ca, client);
  return { name: 'haproxy', port: outPort, pids: [outbound.pid!, inbound.pid!] };
}

/** Connects to the server side of a pair as a mesh client and prints what it negotiates. */
async function checkMeshHop(name: string, port: number, ca: CertificateAuthority, client: { keyPem: string; chainPem: string }): Promise<void> {
  const socket = connectTls({
    host: '127.0.0.1',
    port,
    secureContext: createMeshSecureContext({ keyPem: client.keyPem, certificateChainPem: client.chainPem, trustBundlePem: ca.trustBundlePem }),
    ALPNProtocols: ['reseal/1'],
    checkServerIdentity: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const { name: cipher } = socket.getCipher();
  const group = socket.getEphemeralKeyInfo() as { name?: string };
  log(`  ${name.padEnd(8)} server side negotiates ${socket.getProtocol()} ${cipher} ${group.name ?? ''} ALPN ${String(socket.alpnProtocol)}`);
  socket.destroy();
}

// ---- running ----

function runLoad(loadgen: string, port: number, scenario: Scenario, seconds: number): Promise<LoadResult> {
  const args = ['load', '-target', `127.0.0.1:${port}`, '-conns', String(scenario.conns), '-duration', `${seconds}s`];
  if (scenario.rate > 0) args.push('-rate', String(scenario.rate));
  const child = start(loadgen, args, 'loadgen');
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`loadgen exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
      } catch (error) {
        reject(error);
      }
    });
  });
}

interface Measurement {
  readonly load: LoadResult;
  /** CPU-seconds per 1,000 requests, per proxy process (client side first). */
  readonly cpuPer1000: readonly number[];
  readonly rss: readonly { rss: number; anon: number }[];
}

async function measure(loadgen: string, system: System, scenario: Scenario): Promise<Measurement> {
  if (WARMUP_SECONDS > 0) await runLoad(loadgen, system.port, scenario, WARMUP_SECONDS);
  const before = system.pids.map(cpuSeconds);
  const load = await runLoad(loadgen, system.port, scenario, SECONDS);
  const after = system.pids.map(cpuSeconds);
  if (load.errors > 0) throw new Error(`${system.name} ${scenario.name}: ${load.errors} errors (${load.first_error ?? ''})`);
  return {
    load,
    cpuPer1000: before.map((b, i) => ((after[i]! - b) / load.requests) * 1000),
    rss: system.pids.map(rssMb),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianMeasurement(rounds: readonly Measurement[]): Measurement {
  const pick = (f: (m: Measurement) => number) => median(rounds.map(f));
  const first = rounds[0]!;
  return {
    load: { ...first.load, rps: pick((m) => m.load.rps), p50_us: pick((m) => m.load.p50_us), p99_us: pick((m) => m.load.p99_us), requests: pick((m) => m.load.requests) },
    cpuPer1000: first.cpuPer1000.map((_, i) => pick((m) => m.cpuPer1000[i]!)),
    rss: first.rss.map((_, i) => ({ rss: Math.max(...rounds.map((m) => m.rss[i]!.rss)), anon: Math.max(...rounds.map((m) => m.rss[i]!.anon)) })),
  };
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function main(): Promise<void> {
  for (const [tool, args] of [
    ['go', ['version']],
    ['haproxy', ['-v']],
  ] as const) {
    try {
      execFileSync(tool, [...args], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is required${tool === 'haproxy' ? ' (Debian: apt-get install -y haproxy)' : ''}`);
    }
  }
  const haproxyVersion = execFileSync('haproxy', ['-v']).toString().split('\n')[0]!.trim();
  log(`reseal proxy bench: node ${process.version} (OpenSSL ${process.versions.openssl}), ${haproxyVersion}, ${SECONDS} s per run after ${WARMUP_SECONDS} s warm-up, ${ROUNDS} round(s)`);
  log(`  reseal processes: MALLOC_ARENA_MAX=${PROXY_ENV.MALLOC_ARENA_MAX} node ${[...EXTRA_NODE_FLAGS, USE_TSX ? '--import tsx bench/proxy-process.ts' : 'bench/.bin/reseal-proxy.mjs'].join(' ')}; haproxy: nbthread 1, mode tcp`);
  const loadgen = buildLoadgen();
  workDir = mkdtempSync(join(tmpdir(), 'reseal-proxy-bench-'));
  const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });

  const origin = start(loadgen, ['server', '-listen', '127.0.0.1:0', '-body', '1024'], 'origin');
  const originPort = Number((await waitForLine(origin, /listening 127\.0\.0\.1:(\d+)/, 'origin'))[1]);
  const systems: System[] = [{ name: 'direct', port: originPort, pids: [] }];
  systems.push(await startReseal(workDir, ca, originPort));
  systems.push(await startReseal(workDir, ca, originPort, 'noop'));
  systems.push(await startHaproxy(workDir, ca, originPort));
  new X509Certificate(ca.trustBundlePem); // the bundle parses: the CA is real

  // Fresh Node processes still compile their hot paths: warm both pairs up once, unmeasured.
  for (const system of systems.slice(1)) await runLoad(loadgen, system.port, { name: 'warm-up', conns: 64, rate: 0 }, 2);

  const results = new Map<string, Measurement[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      // Interleaved, so a neighbour's load on the machine hits all three alike.
      for (const system of systems) {
        const m = await measure(loadgen, system, scenario);
        const key = `${scenario.name}|${system.name}`;
        results.set(key, [...(results.get(key) ?? []), m]);
      }
    }
  }
  const get = (scenario: Scenario, system: string) => medianMeasurement(results.get(`${scenario.name}|${system}`)!);

  log('');
  log('scenario     system     req/s   vs haproxy   p50 µs   p99 µs   +p50 µs  +p99 µs   CPU s/1k req (client, server = pair)   vs haproxy   RSS MB client, server (anon)');
  for (const scenario of SCENARIOS) {
    const direct = get(scenario, 'direct');
    const haproxy = get(scenario, 'haproxy');
    const haproxyCpu = haproxy.cpuPer1000.reduce((a, b) => a + b, 0);
    for (const system of systems) {
      const m = get(scenario, system.name);
      const cpu = m.cpuPer1000.reduce((a, b) => a + b, 0);
      const proxied = system.name !== 'direct';
      log(
        [
          scenario.name.padEnd(12),
          system.name.padEnd(8),
          fmt(m.load.rps).padStart(8),
          (proxied ? `${fmt(m.load.rps / haproxy.load.rps, 2)}×` : '').padStart(11),
          fmt(m.load.p50_us).padStart(8),
          fmt(m.load.p99_us).padStart(8),
          (proxied ? fmt(m.load.p50_us - direct.load.p50_us) : '').padStart(9),
          (proxied ? fmt(m.load.p99_us - direct.load.p99_us) : '').padStart(8),
          (proxied ? `${m.cpuPer1000.map((c) => fmt(c, 4)).join(', ')} = ${fmt(cpu, 4)}` : '').padStart(38),
          (proxied ? `${fmt(cpu / haproxyCpu, 2)}×` : '').padStart(12),
          (proxied ? m.rss.map((r) => `${fmt(r.rss, 1)} (${fmt(r.anon, 1)})`).join(', ') : '').padStart(24),
        ].join(' '),
      );
    }
  }

  if (SCENARIOS.length !== ALL_SCENARIOS.length) {
    await stopGracefully();
    return;
  }
  const at64 = SCENARIOS[1]!;
  const at1000 = SCENARIOS[2]!;
  const reseal64 = get(at64, 'reseal');
  const haproxy64 = get(at64, 'haproxy');
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const resealRss = Math.max(...SCENARIOS.flatMap((s) => get(s, 'reseal').rss.map((r) => r.rss)));
  const resealAnon = Math.max(...SCENARIOS.flatMap((s) => get(s, 'reseal').rss.map((r) => r.anon)));
  const haproxyRss = Math.max(...SCENARIOS.flatMap((s) => get(s, 'haproxy').rss.map((r) => r.rss)));
  const addedP99 = (system: string) => (get(at1000, system).load.p99_us - get(at1000, 'direct').load.p99_us) / 1000;
  const notel64 = get(at64, 'reseal-notel');
  const summary = {
    bench: 'proxy',
    throughput_ratio_vs_haproxy: round(reseal64.load.rps / haproxy64.load.rps, 3),
    cpu_per_request_ratio_vs_haproxy: round(sum(reseal64.cpuPer1000) / sum(haproxy64.cpuPer1000), 3),
    added_p99_ms_at_1000rps: round(addedP99('reseal'), 3),
    rss_mb: round(resealRss, 1),
    // The same figures for the peer, and the parts of RSS that are this process's own.
    rss_anon_mb: round(resealAnon, 1),
    haproxy_rss_mb: round(haproxyRss, 1),
    haproxy_added_p99_ms_at_1000rps: round(addedP99('haproxy'), 3),
    cpu_per_request_ratio_at_1000rps: round(sum(get(at1000, 'reseal').cpuPer1000) / sum(get(at1000, 'haproxy').cpuPer1000), 3),
    telemetry_throughput_loss: round(1 - reseal64.load.rps / notel64.load.rps, 3),
    telemetry_cpu_overhead: round(sum(reseal64.cpuPer1000) / sum(notel64.cpuPer1000) - 1, 3),
  };
  log('');
  log('goals: throughput at 64 conns ≥ 1.0× HAProxy; CPU per request ≤ 1.2× HAProxy; added p99 at 1,000 req/s < 1 ms; RSS < 60 MB per proxy; telemetry costs < 10% throughput');
  await stopGracefully();
  log(JSON.stringify(summary));
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    stopping = true;
    console.error(`proxy bench failed: ${error instanceof Error ? error.message : String(error)}`);
    stopAll();
    process.exit(1);
  },
);
