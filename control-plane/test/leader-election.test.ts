// Lease-based leader election against a real kube-apiserver + etcd: one leader among
// candidates racing for the same Lease, hand-over on release, take-over on expiry.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '@reseal/test-cluster';
import { pino } from 'pino';
import { LeaseElector, type LeaseElectorOptions } from '../src/leader-election/lease-elector.js';

const NAMESPACE = 'reseal-system';
const LEASE_SECONDS = 4;
let cluster: TestCluster;
let leases: CoordinationV1Api;
const logger = pino({ level: process.env['RESEAL_TEST_LOG'] ?? 'silent' });
const running = new Set<LeaseElector>();

interface Candidate {
  elector: LeaseElector;
  /** Local times at which this candidate started and stopped leading. */
  events: { kind: 'started' | 'stopped'; at: number }[];
}

function candidate(leaseName: string, identity: string, overrides: Partial<LeaseElectorOptions> = {}): Candidate {
  const events: Candidate['events'] = [];
  const elector = new LeaseElector({
    kubeConfig: cluster.kubeConfig,
    namespace: NAMESPACE,
    leaseName,
    identity,
    logger,
    leaseDurationSeconds: LEASE_SECONDS,
    renewIntervalMs: 1000,
    renewDeadlineMs: 3000,
    retryIntervalMs: 250,
    onStartedLeading: () => {
      events.push({ kind: 'started', at: Date.now() });
    },
    onStoppedLeading: () => {
      events.push({ kind: 'stopped', at: Date.now() });
    },
    ...overrides,
  });
  running.add(elector);
  return { elector, events };
}

async function stop(c: Candidate, release = true): Promise<void> {
  await c.elector.stop({ release });
  running.delete(c.elector);
}

async function eventually<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await fn();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function holderOf(leaseName: string): Promise<string | undefined> {
  const lease = await leases.readNamespacedLease({ name: leaseName, namespace: NAMESPACE });
  return lease.spec?.holderIdentity;
}

before(async () => {
  cluster = await startTestCluster();
  leases = cluster.kubeConfig.makeApiClient(CoordinationV1Api);
  await cluster.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
});

after(async () => {
  for (const elector of running) await elector.stop({ release: false });
  await cluster?.stop();
});

test('of two candidates exactly one leads, and the Lease names it', async () => {
  const a = candidate('two', 'a');
  const b = candidate('two', 'b');
  a.elector.start();
  b.elector.start();
  const leader = await eventually('a leader', () => [a, b].find((c) => c.elector.leading));
  // Watch for a while: renewals must keep the same single leader.
  for (let i = 0; i < 20; i++) {
    assert.equal([a, b].filter((c) => c.elector.leading).length, 1);
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.equal(await holderOf('two'), leader.elector.identity);
  assert.deepEqual(leader.events.map((e) => e.kind), ['started']);
  await stop(a);
  await stop(b);
});

test('five candidates started together settle on one leader (conflicts are handled)', async () => {
  const candidates = ['c1', 'c2', 'c3', 'c4', 'c5'].map((id) => candidate('five', id));
  for (const c of candidates) c.elector.start();
  await eventually('a leader', () => candidates.find((c) => c.elector.leading));
  for (let i = 0; i < 20; i++) {
    assert.equal(candidates.filter((c) => c.elector.leading).length, 1);
    await new Promise((r) => setTimeout(r, 100));
  }
  const lease = await leases.readNamespacedLease({ name: 'five', namespace: NAMESPACE });
  assert.equal(lease.spec?.leaseTransitions, 0, 'nobody took the lease from the first holder');
  for (const c of candidates) await stop(c);
});

test('a leader that stops and releases is replaced well before the lease would expire', async () => {
  const a = candidate('release', 'a');
  a.elector.start();
  await eventually('a to lead', () => a.elector.leading || undefined);
  const b = candidate('release', 'b');
  b.elector.start();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(b.elector.leading, false);

  const stoppedAt = Date.now();
  await stop(a);
  assert.deepEqual(a.events.map((e) => e.kind), ['started', 'stopped']);
  await eventually('b to take over', () => b.elector.leading || undefined, LEASE_SECONDS * 1000);
  const tookMs = Date.now() - stoppedAt;
  assert.ok(tookMs < LEASE_SECONDS * 1000 - 1000, `took ${tookMs} ms`);
  assert.equal(await holderOf('release'), 'b');
  const lease = await leases.readNamespacedLease({ name: 'release', namespace: NAMESPACE });
  assert.equal(lease.spec?.leaseTransitions, 1);
  await stop(b);
});

test('a leader that dies without releasing is replaced once the lease expires, not before', async () => {
  const a = candidate('crash', 'a');
  a.elector.start();
  await eventually('a to lead', () => a.elector.leading || undefined);
  const b = candidate('crash', 'b');
  b.elector.start();
  await new Promise((r) => setTimeout(r, 1500));

  const diedAt = Date.now();
  await stop(a, false);
  assert.equal(await holderOf('crash'), 'a', 'a dead leader does not clear the holder');
  await eventually('b to take over', () => b.elector.leading || undefined, LEASE_SECONDS * 1000 + 5000);
  const tookMs = Date.now() - diedAt;
  // b saw a's last renewal at most one renew interval before a died.
  assert.ok(tookMs >= LEASE_SECONDS * 1000 - 1000 - 100, `took over after only ${tookMs} ms`);
  assert.ok(tookMs <= LEASE_SECONDS * 1000 + 1500, `took ${tookMs} ms`);
  assert.equal(await holderOf('crash'), 'b');
  await stop(b);
});

test('a leader whose lease is taken over steps down', async () => {
  const a = candidate('stolen', 'a');
  a.elector.start();
  await eventually('a to lead', () => a.elector.leading || undefined);
  // Someone else (say, a replica that lost its connection and came back late) writes the lease.
  const lease = await leases.readNamespacedLease({ name: 'stolen', namespace: NAMESPACE });
  await leases.replaceNamespacedLease({ name: 'stolen', namespace: NAMESPACE, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } } });
  await eventually('a to step down', () => (a.elector.leading ? undefined : true), 5000);
  assert.deepEqual(a.events.map((e) => e.kind), ['started', 'stopped']);
  await stop(a);
});

test('API errors (no namespace yet, forbidden) are retried without crashing', async () => {
  const a = candidate('late', 'a', { namespace: 'not-yet' });
  a.elector.start();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(a.elector.leading, false);
  await cluster.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'not-yet' } } });
  await eventually('a to lead once the namespace exists', () => a.elector.leading || undefined, 5000);
  await stop(a);

  const noRights = candidate('forbidden', 'x', { kubeConfig: cluster.kubeConfigForToken('not-a-valid-token') });
  noRights.elector.start();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(noRights.elector.leading, false);
  await stop(noRights);
});

test('options that would let two leaders overlap are refused', () => {
  assert.throws(() => candidate('bad', 'a', { leaseDurationSeconds: 2, renewDeadlineMs: 3000 }), /renew deadline/);
  assert.throws(() => candidate('bad', 'a', { renewIntervalMs: 3000, renewDeadlineMs: 3000 }), /renew interval/);
});
