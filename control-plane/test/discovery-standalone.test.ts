// Standalone mode (the demo): no Kubernetes, the mesh comes from a topology file and is
// served through the same Discovery API, with bootstrap tokens for authentication.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { discoveryClientConstructor, type WatchResponse } from '@reseal/core';
import { pino } from 'pino';
import { DiscoveryClient } from '../../sidecar/src/discovery-client/index.js';
import { parseConfig } from '../src/config.js';
import { startControlPlane, type RunningControlPlane } from '../src/control-plane.js';
import { parseTopology, TopologyError } from '../src/discovery/standalone-topology.js';
import { CONTROL_PLANE_NAME } from './support/identity-client.js';

const logger = pino({ level: process.env['RESEAL_TEST_LOG'] ?? 'silent' });
const WEB_TOKEN = 'web-bootstrap-token-0123456789';
const GATEWAY_TOKEN = 'gateway-bootstrap-token-0123456789';
const GATEWAY = 'spiffe://cluster.local/ns/edge/sa/gateway';

const topology = {
  namespaces: [{ name: 'shop', mtlsMode: 'PERMISSIVE' }],
  pods: [
    { namespace: 'shop', name: 'web-0', ip: '127.0.0.2', serviceAccount: 'web', labels: { app: 'web' } },
    { namespace: 'edge', name: 'gateway-0', ip: '127.0.0.3', serviceAccount: 'gateway', labels: { app: 'gateway' }, mtlsMode: 'STRICT' },
    { namespace: 'legacy', name: 'old-0', ip: '127.0.0.9', meshed: false },
  ],
  services: [
    { namespace: 'shop', name: 'web', clusterIp: '10.96.0.10', ports: [{ port: 80, endpoints: [{ ip: '127.0.0.2', port: 8080 }] }] },
  ],
  accessPolicies: [
    { namespace: 'shop', name: 'web-from-gateway', podSelector: { matchLabels: { app: 'web' } }, ports: [8080], allowedIdentities: [GATEWAY] },
  ],
};

let dir: string;
let topologyFile: string;
let controlPlane: RunningControlPlane;
let client: DiscoveryClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reseal-standalone-'));
  const tokensFile = join(dir, 'tokens.json');
  topologyFile = join(dir, 'topology.json');
  writeFileSync(
    tokensFile,
    JSON.stringify({
      tokens: [
        { token: WEB_TOKEN, namespace: 'shop', serviceAccount: 'web' },
        { token: GATEWAY_TOKEN, namespace: 'edge', serviceAccount: 'gateway' },
      ],
    }),
  );
  writeFileSync(topologyFile, JSON.stringify(topology));
  const config = parseConfig({
    RESEAL_LISTEN_HOST: '127.0.0.1',
    RESEAL_IDENTITY_PORT: '0',
    RESEAL_ADMIN_PORT: '0',
    RESEAL_STANDALONE_TOKENS: tokensFile,
    RESEAL_STANDALONE_TOPOLOGY: topologyFile,
  });
  controlPlane = await startControlPlane(config, { logger });
  client = new DiscoveryClient({
    address: `127.0.0.1:${controlPlane.identityPort}`,
    serverName: CONTROL_PLANE_NAME,
    pod: { namespace: 'shop', name: 'web-0' },
    credentials: () => ({ trustBundlePem: controlPlane.ca().trustBundlePem, bearerToken: WEB_TOKEN }),
    logger,
    backoff: { initialMs: 100, maxMs: 1000 },
  });
  client.start();
});

after(async () => {
  client?.stop();
  await controlPlane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the topology file is served: endpoints, services and the watching pod\'s compiled policy', async () => {
  await client.whenSynced(5000);
  const view = client.state;
  assert.deepEqual(view.endpoint('127.0.0.3'), { ip: '127.0.0.3', identity: GATEWAY, meshed: true, namespace: 'edge', workload: 'gateway-0' });
  assert.deepEqual(view.endpoint('127.0.0.9'), { ip: '127.0.0.9', identity: '', meshed: false, namespace: 'legacy', workload: 'old-0' });
  assert.deepEqual(view.serviceTargets('10.96.0.10', 80), [{ ip: '127.0.0.2', port: 8080, ready: true }]);
  assert.equal(view.mtlsMode(), 'PERMISSIVE');
  assert.equal(view.allowsInbound(8080, GATEWAY), true);
  assert.equal(view.allowsInbound(8080, 'spiffe://cluster.local/ns/legacy/sa/default'), false);
  assert.equal(view.trustBundlePem(), controlPlane.ca().trustBundlePem);
});

test('an edit of the topology file is streamed as a delta', async () => {
  const edited = structuredClone(topology);
  edited.pods.push({ namespace: 'shop', name: 'web-1', ip: '127.0.0.4', serviceAccount: 'web', labels: { app: 'web' } });
  edited.services[0]!.ports[0]!.endpoints.push({ ip: '127.0.0.4', port: 8080 });
  edited.accessPolicies = [];
  // watchFile compares mtimes; make sure this write is visibly newer.
  await new Promise((r) => setTimeout(r, 1100));
  writeFileSync(topologyFile, JSON.stringify(edited));
  const view = client.state;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !(view.endpoint('127.0.0.4') && view.inboundPolicy()?.restricted === false)) await new Promise((r) => setTimeout(r, 50));
  assert.equal(view.endpoint('127.0.0.4')?.identity, 'spiffe://cluster.local/ns/shop/sa/web');
  assert.equal(view.serviceTargets('10.96.0.10', 80)?.length, 2);
  assert.equal(view.allowsInbound(9999, 'spiffe://cluster.local/ns/legacy/sa/default'), true, 'no policy left: unrestricted');

  // A broken edit is ignored; the last good topology stays.
  writeFileSync(topologyFile, '{"pods": [{"name": "x"}]');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(view.endpoint('127.0.0.4')?.identity, 'spiffe://cluster.local/ns/shop/sa/web');
});

test('a token for another ServiceAccount cannot watch as web-0', async () => {
  const Client = discoveryClientConstructor();
  const raw = new Client(`127.0.0.1:${controlPlane.identityPort}`, grpc.credentials.createSsl(Buffer.from(controlPlane.ca().trustBundlePem)), {
    'grpc.ssl_target_name_override': CONTROL_PLANE_NAME,
  });
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${GATEWAY_TOKEN}`);
  const result = await new Promise<{ first?: WatchResponse; error?: grpc.ServiceError }>((resolve) => {
    const call = raw.watch({ podNamespace: 'shop', podName: 'web-0' }, metadata, { deadline: Date.now() + 10_000 });
    call.on('data', (first: WatchResponse) => {
      resolve({ first });
      call.cancel();
    });
    call.on('error', (error: grpc.ServiceError) => resolve({ error }));
  });
  raw.close();
  assert.equal(result.error?.code, grpc.status.PERMISSION_DENIED);
});

test('topology files are checked, with the place of the mistake', () => {
  assert.deepEqual(parseTopology({}), { namespaces: [], pods: [], services: [], policies: [] });
  const cases: [unknown, RegExp][] = [
    [[], /topology must be an object/],
    [{ pods: [{ namespace: 'shop', name: 'a' }] }, /pods\[0\]\.ip must be an IPv4 or IPv6 address/],
    [{ pods: [{ namespace: 'Shop', name: 'a', ip: '10.0.0.1' }] }, /pods\[0\]\.namespace/],
    [{ pods: [{ namespace: 'shop', name: 'a', ip: '10.0.0.1' }, { namespace: 'shop', name: 'a', ip: '10.0.0.2' }] }, /appears twice/],
    [{ services: [{ namespace: 'shop', name: 'web', clusterIp: '10.96.0.1', ports: [{ port: 0 }] }] }, /services\[0\]\.ports\[0\]\.port must be a port/],
    [{ services: [{ namespace: 'shop', name: 'web', clusterIp: '10.96.0.1', ports: [{ port: 80, endpoints: [{ ip: '10.0.0.1', port: 8080, ready: 'yes' }] }] }] }, /ready must be true or false/],
  ];
  for (const [input, message] of cases) assert.throws(() => parseTopology(input), (error: unknown) => error instanceof TopologyError && message.test(error.message));
  // Kubernetes-object form for policies, and policy problems kept for the logs rather than thrown.
  const parsed = parseTopology({ accessPolicies: [{ metadata: { namespace: 'shop', name: 'p' }, spec: { podSelector: {}, allowedIdentities: ['*'] } }] });
  assert.equal(parsed.policies[0]!.name, 'p');
  assert.equal(parsed.policies[0]!.allowedIdentities.length, 0);
  assert.equal(parsed.policies[0]!.problems.length, 1);
});
