import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WatchResponse } from '@reseal/core';
import { Backoff } from '../src/discovery-client/backoff.js';
import { canonicalIp, MeshState } from '../src/discovery-client/mesh-state.js';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const GW = 'spiffe://cluster.local/ns/edge/sa/gateway';

function message(partial: Partial<WatchResponse>): WatchResponse {
  return { fullSnapshot: false, endpoints: [], removedEndpoints: [], services: [], removedServices: [], inboundPolicy: null, trustBundlePem: '', version: '1', ...partial };
}

const snapshot = message({
  fullSnapshot: true,
  endpoints: [
    { ip: '10.0.0.1', identity: WEB, meshed: true, namespace: 'shop', podName: 'web-0', workload: 'web' },
    { ip: 'fd00::1', identity: '', meshed: false, namespace: 'legacy', podName: 'old-0', workload: 'old' },
  ],
  services: [
    {
      clusterIp: '198.18.128.10',
      namespace: 'shop',
      name: 'web',
      ports: [
        { port: 80, protocol: 'TCP', endpoints: [{ ip: '10.0.0.1', port: 8080, ready: true }] },
        { port: 53, protocol: 'UDP', endpoints: [{ ip: '10.0.0.1', port: 53, ready: true }] },
      ],
    },
  ],
  inboundPolicy: { mtlsMode: 'STRICT', restricted: false, rules: [] },
  trustBundlePem: 'ROOTS-1',
  version: '1',
});

test('before the first snapshot: not synced, STRICT, nobody allowed in', () => {
  const state = new MeshState();
  assert.equal(state.synced, false);
  assert.equal(state.mtlsMode(), 'STRICT');
  assert.equal(state.allowsInbound(8080, WEB), false);
  assert.equal(state.endpoint('10.0.0.1'), undefined);
  assert.equal(state.serviceTargets('198.18.128.10', 80), undefined);
});

test('a snapshot answers every MeshView query; IPv4-mapped and alternative IPv6 spellings are found', () => {
  const state = new MeshState();
  const change = state.apply(snapshot);
  assert.deepEqual(change, { fullSnapshot: true, policyChanged: true, trustBundlePem: 'ROOTS-1', version: '1' });
  assert.equal(state.synced, true);
  assert.equal(state.endpoint('10.0.0.1')?.identity, WEB);
  assert.equal(state.endpoint('::ffff:10.0.0.1')?.identity, WEB);
  assert.equal(state.endpoint('FD00:0:0::1')?.meshed, false);
  assert.deepEqual(state.serviceTargets('198.18.128.10', 80), [{ ip: '10.0.0.1', port: 8080, ready: true }]);
  assert.deepEqual(state.serviceTargets('198.18.128.10', 53), [], 'UDP ports are not captured');
  assert.deepEqual(state.serviceTargets('198.18.128.10', 81), []);
  assert.equal(state.serviceTargets('10.0.0.1', 80), undefined, 'a pod IP is not a cluster IP');
  assert.equal(state.allowsInbound(1234, GW), true, 'unrestricted: any verified identity');
  assert.equal(state.allowsInbound(1234, ''), false);
  assert.equal(state.trustBundlePem(), 'ROOTS-1');
});

test('deltas upsert and remove; a new snapshot replaces everything', () => {
  const state = new MeshState();
  state.apply(snapshot);
  const change = state.apply(
    message({
      endpoints: [{ ip: '10.0.0.2', identity: GW, meshed: true, namespace: 'edge', podName: 'gw-0', workload: 'gw' }],
      removedEndpoints: ['fd00::1'],
      removedServices: ['198.18.128.10'],
      version: '2',
    }),
  );
  assert.deepEqual(change, { fullSnapshot: false, policyChanged: false, trustBundlePem: undefined, version: '2' });
  assert.equal(state.endpoint('10.0.0.2')?.workload, 'gw');
  assert.equal(state.endpoint('fd00::1'), undefined);
  assert.equal(state.serviceTargets('198.18.128.10', 80), undefined);
  state.apply(message({ fullSnapshot: true, endpoints: [], inboundPolicy: { mtlsMode: 'STRICT', restricted: false, rules: [] }, version: '1' }));
  assert.deepEqual(state.counts(), { endpoints: 0, services: 0 });
  assert.equal(state.trustBundlePem(), 'ROOTS-1', 'an empty bundle field means unchanged');
});

test('a restricted policy: per port, port 0 for all ports, exact and prefix patterns; PERMISSIVE mode', () => {
  const state = new MeshState();
  state.apply(snapshot);
  const change = state.apply(
    message({
      inboundPolicy: {
        mtlsMode: 'PERMISSIVE',
        restricted: true,
        rules: [
          { port: 0, allowedIdentities: ['spiffe://cluster.local/ns/ops/*'] },
          { port: 8080, allowedIdentities: [GW, 'spiffe://cluster.local/ns/shop/sa/worker*'] },
        ],
      },
    }),
  );
  assert.equal(change.policyChanged, true);
  assert.equal(state.mtlsMode(), 'PERMISSIVE');
  assert.equal(state.allowsInbound(8080, GW), true);
  assert.equal(state.allowsInbound(9090, GW), false);
  assert.equal(state.allowsInbound(8080, 'spiffe://cluster.local/ns/shop/sa/worker-2'), true);
  assert.equal(state.allowsInbound(9090, 'spiffe://cluster.local/ns/ops/sa/admin'), true);
  assert.equal(state.allowsInbound(8080, 'spiffe://cluster.local/ns/opsx/sa/admin'), false);
  state.apply(message({ inboundPolicy: { mtlsMode: 'STRICT', restricted: true, rules: [] } }));
  assert.equal(state.allowsInbound(8080, GW), false, 'restricted with no rules: nobody');
  state.apply(message({ inboundPolicy: { mtlsMode: 'OFF' as never, restricted: false, rules: [] } }));
  assert.equal(state.mtlsMode(), 'STRICT', 'an unknown mode is STRICT');
});

test('canonicalIp', () => {
  assert.equal(canonicalIp('10.1.2.3'), '10.1.2.3');
  assert.equal(canonicalIp('::FFFF:10.1.2.3'), '10.1.2.3');
  assert.equal(canonicalIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(canonicalIp('not:an:ip::x'), 'not:an:ip::x');
});

test('backoff grows exponentially with jitter between half and all of each step, capped, and resets', () => {
  let r = 0;
  const backoff = new Backoff({ initialMs: 100, maxMs: 1000, random: () => r });
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()], [50, 100, 200, 400, 500, 500]);
  r = 0.999;
  assert.equal(backoff.next(), 1000);
  backoff.reset();
  assert.equal(backoff.next(), 100);
});
