// Issuance throughput of the CA on one core: CSR parse + proof-of-possession verify +
// certificate encode + sign, the work of one Identity/Certify call minus gRPC and TokenReview.
// OpenSSL's own ECDSA P-256 sign rate on the same core is printed alongside as the ceiling.
//
//   node --import tsx bench/ca.bench.ts        (npm run bench:ca)
//   RESEAL_BENCH_SECONDS=10 …                  longer measurement
//
// The last line of stdout is one JSON object for CI:
//   {"bench":"ca","certs_per_s_per_core":N,"openssl_sign_per_s":N}

import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createCsr, generateWorkloadKeyPair, parseCsr, workloadSpiffeId } from '@reseal/core';
import { CertificateAuthority } from '../src/ca/index.js';

const PINNED_ENV = 'RESEAL_BENCH_PINNED';
const CORE = process.env.RESEAL_BENCH_CORE ?? '0';
const SECONDS = Number(process.env.RESEAL_BENCH_SECONDS ?? 5);
const POOL = 200;

// Per-core figures only mean something when the OS cannot spread the process (its GC and
// crypto threads) over several cores, so the bench re-runs itself under taskset when it can.
if (process.env[PINNED_ENV] === undefined && spawnSync('taskset', ['-c', CORE, 'true']).status === 0) {
  const child = spawnSync('taskset', ['-c', CORE, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, [PINNED_ENV]: CORE },
  });
  process.exit(child.status ?? 1);
}

const log = (line: string) => process.stdout.write(line + '\n');
log(`reseal CA bench: node ${process.version}, ${process.env[PINNED_ENV] === undefined ? 'not pinned (no taskset)' : `pinned to core ${CORE}`}, ${SECONDS} s`);

const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
const requests = Array.from({ length: POOL }, (_, i) => {
  const { privateKey, publicKey } = generateWorkloadKeyPair();
  const spiffeId = workloadSpiffeId('cluster.local', `bench-${i % 17}`, `workload-${i}`);
  return { spiffeId, csr: createCsr(privateKey, publicKey, spiffeId) };
});

function issueOne(i: number): Buffer {
  const request = requests[i % POOL]!;
  const { publicKey, spiffeId } = parseCsr(request.csr, request.spiffeId);
  return ca.issueWorkloadSvid({ publicKey, spiffeId }).certDer;
}

/** Runs `step` until `seconds` have passed; returns operations per second. */
function measure(seconds: number, step: (i: number) => unknown): number {
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  let count = 0;
  // Checking the clock every 32 operations keeps its cost out of the figure.
  while (performance.now() < deadline) {
    for (let j = 0; j < 32; j++) step(count++);
  }
  return count / ((performance.now() - start) / 1000);
}

// The certificates must be real, or the figure is meaningless.
const sample = new X509Certificate(issueOne(0));
if (!sample.verify(ca.issuerCertificate.publicKey) || !sample.subjectAltName?.includes(requests[0]!.spiffeId)) {
  throw new Error('bench sanity check failed: issued certificate does not verify');
}

measure(1, issueOne); // warm-up: JIT, key caches, allocator
const parsed = requests.map((r) => parseCsr(r.csr, r.spiffeId));
const parseRate = measure(1, (i) => parseCsr(requests[i % POOL]!.csr, requests[i % POOL]!.spiffeId));
const signRate = measure(1, (i) => ca.issueWorkloadSvid(parsed[i % POOL]!));
// One-second slices: on a shared machine a neighbour's burst then spoils one slice, not the
// figure. The median slice is reported; the mean over the whole run is printed beside it.
const slices = Array.from({ length: Math.max(1, Math.round(SECONDS)) }, () => measure(1, issueOne));
const certsPerSecond = median(slices);
const meanPerSecond = slices.reduce((a, b) => a + b, 0) / slices.length;

log(`  CSR parse + verify only      ${parseRate.toFixed(0).padStart(7)} /s`);
log(`  encode + sign only           ${signRate.toFixed(0).padStart(7)} /s`);
log(`  full issuance (CSR → cert)   ${certsPerSecond.toFixed(0).padStart(7)} certs/s/core (median of ${slices.length} × 1 s; mean ${meanPerSecond.toFixed(0)}, slices ${slices.map((x) => x.toFixed(0)).join(' ')})`);
log(`                               ${(1e6 / certsPerSecond).toFixed(0).padStart(7)} µs per certificate`);

const openssl = opensslSignRate();
if (openssl === null) {
  log('  openssl speed ecdsap256      unavailable');
} else {
  log(`  openssl ecdsap256 sign       ${openssl.sign.toFixed(0).padStart(7)} /s   verify ${openssl.verify.toFixed(0)} /s`);
  log(`  ratio certs/s : openssl sign/s = ${(certsPerSecond / openssl.sign).toFixed(3)}`);
}
log(JSON.stringify({ bench: 'ca', certs_per_s_per_core: Math.round(certsPerSecond), openssl_sign_per_s: openssl === null ? null : Math.round(openssl.sign) }));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function opensslSignRate(): { sign: number; verify: number } | null {
  const pinned = process.env[PINNED_ENV] !== undefined;
  const command = pinned ? 'taskset' : 'openssl';
  const args = [...(pinned ? ['-c', CORE, 'openssl'] : []), 'speed', '-seconds', '3', 'ecdsap256'];
  const run = spawnSync(command, args, { encoding: 'utf8' });
  if (run.status !== 0) return null;
  // OpenSSL 3.0 summary row: " 256 bits ecdsa (nistp256)   0.0000s   0.0001s  34239.1  11022.5"
  const row = /\(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)/.exec(run.stdout);
  if (row === null) return null;
  return { sign: Number(row[1]), verify: Number(row[2]) };
}
