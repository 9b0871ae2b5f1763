import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import type { WatchResponse } from '@reseal/core';
import { pino } from 'pino';
import { DiscoveryHub } from '../src/discovery/discovery-hub.js';
import { DiscoveryError } from '../src/discovery/discovery-errors.js';
import { endpointSliceRecordOf, MESHED_LABEL, podRecordOf, serviceRecordOf } from '../src/discovery/kubernetes-records.js';
import { MeshModel } from '../src/discovery/mesh-model.js';
import type { PodRecord } from '../src/discovery/mesh-records.js';
import { WatchAuthenticator } from '../src/discovery/watch-authenticator.js';
import { authorizeWatch } from '../src/discovery/watch-authorizer.js';
import type { WatchSink } from '../src/discovery/watch-subscriber.js';
import { AuthenticationError } from '../src/identity/caller.js';
import { accessPolicyRecord } from '../src/policy/access-policy.js';

const logger = pino({ level: 'silent' });

function pod(name: string, ip: string, extra: Partial<PodRecord> = {}): PodRecord {
  return { namespace: 'shop', name, ips: [ip], serviceAccount: 'web', meshed: true, labels: { app: 'web' }, workload: 'web', terminated: false, createdAt: 1000, ...extra };
}

function k8sPod(name: string, overrides: { labels?: Record<string, string>; ip?: string; hostNetwork?: boolean; phase?: string; owner?: { kind: string; name: string } } = {}): V1Pod {
  return {
    metadata: {
      namespace: 'shop',
      name,
      labels: overrides.labels ?? {},
      creationTimestamp: new Date('2025-01-01T00:00:00Z'),
      ...(overrides.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: overrides.owner.kind, name: overrides.owner.name, uid: 'u', controller: true }] } : {}),
    },
    spec: { serviceAccountName: 'web', containers: [], hostNetwork: overrides.hostNetwork ?? false },
    status: { phase: overrides.phase ?? 'Running', podIP: overrides.ip ?? '10.0.0.1', podIPs: [{ ip: overrides.ip ?? '10.0.0.1' }] },
  };
}

class FakeSink implements WatchSink {
  readonly messages: WatchResponse[] = [];
  readonly pendingDone: ((error?: Error | null) => void)[] = [];
  ended: string | undefined;
  constructor(private readonly manual = false) {}
  write(message: WatchResponse, done: (error?: Error | null) => void): void {
    this.messages.push(structuredClone(message));
    if (this.manual) this.pendingDone.push(done);
    else queueMicrotask(() => done());
  }
  end(reason: string): void {
    this.ended = reason;
  }
  release(): void {
    this.pendingDone.shift()?.();
  }
  get last(): WatchResponse {
    return this.messages.at(-1)!;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

test('pods become endpoints: identity for meshed pods only, no host-network or finished pods', () => {
  const meshed = podRecordOf(k8sPod('web-1', { labels: { [MESHED_LABEL]: 'true', app: 'web' }, ip: '10.0.0.1' }))!;
  const plain = podRecordOf(k8sPod('legacy-1', { ip: '10.0.0.2', owner: { kind: 'ReplicaSet', name: 'legacy-5d8f' }, labels: { 'pod-template-hash': '5d8f' } }))!;
  const host = podRecordOf(k8sPod('node-agent', { hostNetwork: true, ip: '192.168.1.10', labels: { [MESHED_LABEL]: 'true' } }))!;
  const done = podRecordOf(k8sPod('job-1', { phase: 'Succeeded', ip: '10.0.0.3', labels: { [MESHED_LABEL]: 'true' } }))!;
  assert.equal(plain.workload, 'legacy');
  assert.deepEqual(host.ips, []);
  const model = new MeshModel('cluster.local');
  for (const record of [meshed, plain, host, done]) model.upsertPod(record);
  const endpoints = [...model.buildTables().endpoints.values()].map((e) => e.value);
  assert.deepEqual(endpoints, [
    { ip: '10.0.0.1', identity: 'spiffe://cluster.local/ns/shop/sa/web', meshed: true, namespace: 'shop', podName: 'web-1', workload: 'web' },
    { ip: '10.0.0.2', identity: '', meshed: false, namespace: 'shop', podName: 'legacy-1', workload: 'legacy' },
  ]);
});

test('an IP claimed by two pods belongs to the newest running one', () => {
  const model = new MeshModel('cluster.local');
  model.upsertPod(pod('old', '10.0.0.9', { createdAt: 1, serviceAccount: 'old' }));
  model.upsertPod(pod('new', '10.0.0.9', { createdAt: 2, serviceAccount: 'new' }));
  assert.equal(model.buildTables().endpoints.get('10.0.0.9')?.value.podName, 'new');
  model.upsertPod(pod('new', '10.0.0.9', { createdAt: 2, serviceAccount: 'new', terminated: true }));
  assert.equal(model.buildTables().endpoints.get('10.0.0.9')?.value.podName, 'old');
  model.removePod('shop', 'old');
  assert.equal(model.buildTables().endpoints.size, 0);
});

test('Services: cluster IPs → ports → endpoints from every EndpointSlice, matched by port name', () => {
  const model = new MeshModel('cluster.local');
  const service: V1Service = {
    metadata: { namespace: 'shop', name: 'web' },
    spec: {
      clusterIP: '198.18.128.10',
      clusterIPs: ['198.18.128.10', 'fd00::10'],
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'metrics', port: 9100, protocol: 'TCP' },
      ],
    },
  };
  const slice = (name: string, endpoints: { ip: string; ready?: boolean }[], httpPort: number): V1EndpointSlice => ({
    metadata: { namespace: 'shop', name, labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [
      { name: 'http', port: httpPort, protocol: 'TCP' },
      { name: 'metrics', port: 9100, protocol: 'TCP' },
    ],
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }) })),
  });
  model.upsertService(serviceRecordOf(service)!);
  model.upsertEndpointSlice(endpointSliceRecordOf(slice('web-a', [{ ip: '10.0.0.2' }, { ip: '10.0.0.1', ready: false }], 8080))!);
  model.upsertEndpointSlice(endpointSliceRecordOf(slice('web-b', [{ ip: '10.0.0.3', ready: true }], 8080))!);
  assert.equal(serviceRecordOf({ metadata: { namespace: 'shop', name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.org' } }), undefined);
  model.upsertService(serviceRecordOf({ metadata: { namespace: 'shop', name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } })!);
  const services = model.buildTables().services;
  assert.deepEqual([...services.keys()], ['198.18.128.10', 'fd00::10']);
  assert.deepEqual(services.get('198.18.128.10')!.value, {
    clusterIp: '198.18.128.10',
    namespace: 'shop',
    name: 'web',
    ports: [
      {
        port: 80,
        protocol: 'TCP',
        endpoints: [
          { ip: '10.0.0.1', port: 8080, ready: false },
          { ip: '10.0.0.2', port: 8080, ready: true },
          { ip: '10.0.0.3', port: 8080, ready: true },
        ],
      },
      {
        port: 9100,
        protocol: 'TCP',
        endpoints: [
          { ip: '10.0.0.1', port: 9100, ready: false },
          { ip: '10.0.0.2', port: 9100, ready: true },
          { ip: '10.0.0.3', port: 9100, ready: true },
        ],
      },
    ],
  });
  model.removeEndpointSlice('shop', 'web-a');
  assert.deepEqual(model.buildTables().services.get('198.18.128.10')!.value.ports[0]!.endpoints, [{ ip: '10.0.0.3', port: 8080, ready: true }]);
});

test('a watcher gets a snapshot, then only what changed; bursts are coalesced by the debounce', async () => {
  const model = new MeshModel('cluster.local');
  model.upsertPod(pod('web-0', '10.0.0.1'));
  model.upsertPod(pod('web-1', '10.0.0.2'));
  const hub = new DiscoveryHub(model, { logger, trustBundlePem: 'ROOTS-1', debounceMs: 30 });
  hub.markSynced();
  const sink = new FakeSink();
  hub.subscribe({ namespace: 'shop', name: 'web-0' }, sink, () => undefined);
  assert.equal(sink.messages.length, 1);
  const snapshot = sink.last;
  assert.equal(snapshot.fullSnapshot, true);
  assert.deepEqual(snapshot.endpoints.map((e) => e.ip), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(snapshot.inboundPolicy, { mtlsMode: 'STRICT', restricted: false, rules: [] });
  assert.equal(snapshot.trustBundlePem, 'ROOTS-1');
  assert.equal(snapshot.version, 1);

  // Three changes within the debounce window: one delta.
  model.upsertPod(pod('web-2', '10.0.0.3'));
  hub.markDirty();
  model.removePod('shop', 'web-1');
  hub.markDirty();
  model.upsertPod(pod('web-3', '10.0.0.4'));
  hub.markDirty();
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(sink.messages.length, 2);
  const delta = sink.last;
  assert.equal(delta.fullSnapshot, false);
  assert.deepEqual(delta.endpoints.map((e) => e.ip).sort(), ['10.0.0.3', '10.0.0.4']);
  assert.deepEqual(delta.removedEndpoints, ['10.0.0.2']);
  assert.equal(delta.inboundPolicy, undefined, 'policy unchanged, not resent');
  assert.equal(delta.trustBundlePem, '', 'bundle unchanged, not resent');
  assert.equal(delta.version, 2);

  // A change that changes nothing visible sends nothing.
  model.upsertPod(pod('web-2', '10.0.0.3', { labels: { app: 'web', extra: 'x' } }));
  hub.flush();
  await tick();
  assert.equal(sink.messages.length, 2);
  hub.close();
  assert.equal(sink.ended, 'shutdown');
});

test('policy and trust-bundle changes reach the watcher; a deleted pod keeps its last policy', async () => {
  const model = new MeshModel('cluster.local');
  model.upsertPod(pod('web-0', '10.0.0.1'));
  const hub = new DiscoveryHub(model, { logger, trustBundlePem: 'ROOTS-1' });
  hub.markSynced();
  const sink = new FakeSink();
  hub.subscribe({ namespace: 'shop', name: 'web-0' }, sink, () => undefined);
  model.upsertPolicy(accessPolicyRecord('shop', 'p', { podSelector: { matchLabels: { app: 'web' } }, ports: [8080], allowedIdentities: ['spiffe://cluster.local/ns/edge/sa/gw'] }));
  hub.flush();
  await tick();
  assert.deepEqual(sink.last.inboundPolicy, { mtlsMode: 'STRICT', restricted: true, rules: [{ port: 8080, allowedIdentities: ['spiffe://cluster.local/ns/edge/sa/gw'] }] });
  model.upsertNamespace({ name: 'shop', mtlsModeAnnotation: 'PERMISSIVE' });
  hub.flush();
  await tick();
  assert.equal(sink.last.inboundPolicy?.mtlsMode, 'PERMISSIVE');
  const count = sink.messages.length;
  hub.setTrustBundle('ROOTS-2');
  await tick();
  assert.equal(sink.messages.length, count + 1);
  assert.equal(sink.last.trustBundlePem, 'ROOTS-2');
  model.removePod('shop', 'web-0');
  model.removePolicy('shop', 'p');
  hub.flush();
  await tick();
  assert.deepEqual(sink.last.removedEndpoints, ['10.0.0.1']);
  assert.equal(sink.last.inboundPolicy, undefined, 'the policy of a vanished pod is not reopened');
  hub.close();
});

test('a slow watcher gets changes folded into one delta, a resnapshot when too far behind, and is dropped when stalled; others are not held up', async () => {
  const model = new MeshModel('cluster.local');
  model.upsertPod(pod('web-0', '10.0.0.1'));
  const hub = new DiscoveryHub(model, { logger, trustBundlePem: 'R', maxPendingEntries: 5, stallTimeoutMs: 1000 });
  hub.markSynced();
  const slow = new FakeSink(true);
  const fast = new FakeSink();
  const closed: string[] = [];
  hub.subscribe({ namespace: 'shop', name: 'web-0' }, slow, (reason) => closed.push(reason));
  hub.subscribe({ namespace: 'shop', name: 'web-0' }, fast, () => undefined);
  assert.equal(slow.messages.length, 1, 'snapshot in flight, not yet taken');

  model.upsertPod(pod('a', '10.0.1.1'));
  hub.flush();
  await tick();
  model.upsertPod(pod('b', '10.0.1.2'));
  hub.flush();
  await tick();
  model.removePod('shop', 'a');
  hub.flush();
  await tick();
  assert.equal(fast.messages.length, 4, 'the fast watcher got every delta');
  assert.equal(slow.messages.length, 1);
  slow.release();
  assert.equal(slow.messages.length, 2, 'then one folded delta');
  assert.deepEqual(slow.last.endpoints.map((e) => e.ip), ['10.0.1.2']);
  assert.deepEqual(slow.last.removedEndpoints, ['10.0.1.1']);

  for (let i = 0; i < 10; i++) model.upsertPod(pod(`burst-${i}`, `10.0.2.${i}`));
  hub.flush();
  slow.release();
  assert.equal(slow.last.fullSnapshot, true, 'too far behind: resnapshot');
  assert.equal(slow.last.endpoints.length, 12);

  // Never released again: ended as stalled after the timeout.
  await new Promise((r) => setTimeout(r, 1600));
  assert.equal(slow.ended, 'stalled');
  assert.deepEqual(closed, ['stalled']);
  assert.equal(hub.subscriberCount, 1);
  hub.close();
});

test('watches wait for the first listing of the cluster', async () => {
  const model = new MeshModel('cluster.local');
  const hub = new DiscoveryHub(model, { logger, trustBundlePem: 'R' });
  assert.equal(await hub.whenSynced(50), false);
  const waiting = hub.whenSynced(5000);
  hub.markSynced();
  assert.equal(await waiting, true);
  hub.close();
});

test('authorization: only a pod running as the caller\'s ServiceAccount, and the one a bound token names', () => {
  const caller = { namespace: 'shop', serviceAccount: 'web', method: 'token' as const };
  assert.deepEqual(authorizeWatch(caller, 'shop/web-0', pod('web-0', '10.0.0.1')), { allowed: true });
  const other = authorizeWatch(caller, 'shop/db-0', pod('db-0', '10.0.0.2', { serviceAccount: 'db' }));
  const missing = authorizeWatch(caller, 'shop/ghost', undefined);
  assert.equal(other.allowed, false);
  assert.equal(missing.allowed, false);
  if (!other.allowed && !missing.allowed) assert.equal(other.message.replace('db-0', 'ghost'), missing.message, 'no hint whether the pod exists');
  const otherNamespace = authorizeWatch({ ...caller, namespace: 'edge' }, 'shop/web-0', pod('web-0', '10.0.0.1'));
  assert.equal(otherNamespace.allowed, false);
  const bound = authorizeWatch({ ...caller, podName: 'web-1' }, 'shop/web-0', pod('web-0', '10.0.0.1'));
  assert.deepEqual(bound.allowed ? undefined : bound.reason, 'token_bound_to_other_pod');
});

test('authentication: token refused → UNAUTHENTICATED; TokenReview down → UNAVAILABLE; nothing → UNAUTHENTICATED', async () => {
  const trust = () => ({ trustRoots: [], issuerChain: [] });
  const refusing = new WatchAuthenticator({ authenticate: async () => Promise.reject(new AuthenticationError('bad token')) }, trust, 'cluster.local');
  const down = new WatchAuthenticator({ authenticate: async () => Promise.reject(new Error('ECONNREFUSED')) }, trust, 'cluster.local');
  const accepting = new WatchAuthenticator({ authenticate: async () => ({ namespace: 'shop', serviceAccount: 'web', method: 'token' }) }, trust, 'cluster.local');
  const code = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => (e instanceof DiscoveryError ? e.code : -1));
  assert.equal(await code(refusing.authenticate({ bearerToken: 't', peerCertificates: [] })), status.UNAUTHENTICATED);
  assert.equal(await code(down.authenticate({ bearerToken: 't', peerCertificates: [] })), status.UNAVAILABLE);
  assert.equal(await code(accepting.authenticate({ peerCertificates: [] })), status.UNAUTHENTICATED);
  assert.equal(await code(refusing.authenticate({ bearerToken: 't', peerCertificates: [Buffer.from('junk')] })), status.UNAUTHENTICATED);
  assert.equal((await accepting.authenticate({ bearerToken: 't', peerCertificates: [] })).serviceAccount, 'web');
});
