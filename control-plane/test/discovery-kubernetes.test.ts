// Discovery against a real kube-apiserver + etcd: the control plane's informers, the Watch
// stream and the sidecar's discovery client, end to end over TLS on the identity port.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  loadYaml,
  type V1CustomResourceDefinition,
  type V1Pod,
} from '@kubernetes/client-node';
import { discoveryClientConstructor, type WatchRequest, type WatchResponse } from '@reseal/core';
import { startTestCluster, type TestCluster } from '@reseal/test-cluster';
import { pino } from 'pino';
import { DiscoveryClient } from '../../sidecar/src/discovery-client/index.js';
import { parseConfig } from '../src/config.js';
import { startControlPlane, type RunningControlPlane } from '../src/control-plane.js';
import { MESHED_LABEL } from '../src/discovery/kubernetes-records.js';
import { ACCESS_POLICY_GROUP, ACCESS_POLICY_PLURAL, ACCESS_POLICY_VERSION } from '../src/policy/access-policy.js';
import { CONTROL_PLANE_NAME, TestIdentityClient } from './support/identity-client.js';

const CRD_FILE = fileURLToPath(new URL('../../manifests/crds/accesspolicy.yaml', import.meta.url));
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const GATEWAY = 'spiffe://cluster.local/ns/edge/sa/gateway';
const logger = pino({ level: process.env['RESEAL_TEST_LOG'] ?? 'silent' });

let cluster: TestCluster;
let core: CoreV1Api;
let slices: DiscoveryV1Api;
let custom: CustomObjectsApi;
let port: number;
let controlPlane: RunningControlPlane | undefined;
let client: DiscoveryClient | undefined;
let webToken: string;
let serviceIp: string;
const podIps = new Map<string, string>();

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function start(): Promise<RunningControlPlane> {
  const config = parseConfig({ RESEAL_LISTEN_HOST: '127.0.0.1', RESEAL_IDENTITY_PORT: String(port), RESEAL_ADMIN_PORT: '0' });
  return startControlPlane(config, { logger, kubeConfig: cluster.kubeConfig, caPollIntervalMs: 500, trustBundleResyncMs: 5000 });
}

async function eventually<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function createPod(namespace: string, name: string, serviceAccount: string, ip: string, labels: Record<string, string>): Promise<V1Pod> {
  await core.createNamespacedPod({
    namespace,
    body: { metadata: { name, labels }, spec: { serviceAccountName: serviceAccount, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'app:1' }] } },
  });
  // No kubelet here: give the pod its address the way the kubelet would, through the status subresource.
  const current = await core.readNamespacedPod({ name, namespace });
  const updated = await core.replaceNamespacedPodStatus({
    name,
    namespace,
    body: { ...current, status: { ...current.status, phase: 'Running', podIP: ip, podIPs: [{ ip }] } },
  });
  podIps.set(`${namespace}/${name}`, ip);
  return updated;
}

async function token(namespace: string, serviceAccount: string, boundPod?: V1Pod): Promise<string> {
  const response = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: {
      spec: {
        audiences: ['reseal'],
        expirationSeconds: 600,
        ...(boundPod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: boundPod.metadata!.name!, uid: boundPod.metadata!.uid! } } : {}),
      },
    },
  });
  const issued = response.status?.token;
  if (!issued) throw new Error('TokenRequest returned no token');
  return issued;
}

/** One raw Watch call: the first message, or the error status. */
async function watchOnce(request: Partial<WatchRequest>, auth: { token?: string; clientCert?: { chainPem: string; keyPem: string } }): Promise<{ first?: WatchResponse; error?: grpc.ServiceError }> {
  const bundle = Buffer.from(controlPlane!.ca().trustBundlePem);
  const credentials = auth.clientCert
    ? grpc.credentials.createSsl(bundle, Buffer.from(auth.clientCert.keyPem), Buffer.from(auth.clientCert.chainPem))
    : grpc.credentials.createSsl(bundle);
  const Client = discoveryClientConstructor();
  const raw = new Client(`127.0.0.1:${port}`, credentials, { 'grpc.ssl_target_name_override': CONTROL_PLANE_NAME });
  const metadata = new grpc.Metadata();
  if (auth.token) metadata.set('authorization', `Bearer ${auth.token}`);
  try {
    return await new Promise((resolve) => {
      const call = raw.watch(request, metadata, { deadline: Date.now() + 15_000 });
      call.on('data', (message: WatchResponse) => {
        resolve({ first: message });
        call.cancel();
      });
      call.on('error', (error: grpc.ServiceError) => resolve({ error }));
    });
  } finally {
    raw.close();
  }
}

function startClient(): DiscoveryClient {
  const started = new DiscoveryClient({
    address: `127.0.0.1:${port}`,
    serverName: CONTROL_PLANE_NAME,
    pod: { namespace: 'shop', name: 'web-0', ip: podIps.get('shop/web-0')! },
    credentials: () => ({ trustBundlePem: controlPlane?.ca().trustBundlePem ?? '', bearerToken: webToken }),
    logger,
    backoff: { initialMs: 100, maxMs: 1000 },
  });
  started.start();
  return started;
}

before(async () => {
  cluster = await startTestCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  slices = cluster.kubeConfig.makeApiClient(DiscoveryV1Api);
  custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  const crds = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(CRD_FILE, 'utf8'));
  await crds.createCustomResourceDefinition({ body: crd });
  await eventually('the CRD to be established', async () => {
    const current = await crds.readCustomResourceDefinition({ name: crd.metadata!.name! });
    return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') || undefined;
  }, 30_000);

  for (const name of ['reseal-system', 'shop', 'edge']) await core.createNamespace({ body: { metadata: { name, labels: { 'reseal.dev/inject': 'enabled' } } } });
  for (const [namespace, name] of [['shop', 'web'], ['shop', 'db'], ['edge', 'gateway'], ['shop', 'legacy']] as const) {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  }
  const web0 = await createPod('shop', 'web-0', 'web', '10.1.0.10', { app: 'web', [MESHED_LABEL]: 'true' });
  await createPod('shop', 'db-0', 'db', '10.1.0.20', { app: 'db', [MESHED_LABEL]: 'true' });
  await createPod('edge', 'gw-0', 'gateway', '10.1.0.30', { app: 'gateway', [MESHED_LABEL]: 'true' });
  await createPod('shop', 'legacy-0', 'legacy', '10.1.0.40', { app: 'legacy' });
  const service = await core.createNamespacedService({
    namespace: 'shop',
    body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } },
  });
  serviceIp = service.spec!.clusterIP!;
  await slices.createNamespacedEndpointSlice({
    namespace: 'shop',
    body: {
      metadata: { name: 'web-abcde', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [{ addresses: ['10.1.0.10'], conditions: { ready: true } }],
    },
  });
  // Bound to the pod, as a projected token is: the control plane checks it names web-0.
  webToken = await token('shop', 'web', web0);
  port = await freePort();
  controlPlane = await start();
});

after(async () => {
  client?.stop();
  await controlPlane?.stop();
  await cluster?.stop();
});

test('a sidecar watching as shop/web-0 gets a snapshot with endpoint identities, the Service and its policy', async () => {
  client = startClient();
  await client.whenSynced(10_000);
  const view = client.state;
  assert.equal(view.synced, true);
  assert.deepEqual(view.endpoint('10.1.0.10'), { ip: '10.1.0.10', identity: WEB, meshed: true, namespace: 'shop', workload: 'web' });
  assert.equal(view.endpoint('10.1.0.30')?.identity, GATEWAY);
  assert.deepEqual(view.endpoint('10.1.0.40'), { ip: '10.1.0.40', identity: '', meshed: false, namespace: 'shop', workload: 'legacy' });
  assert.deepEqual(view.serviceTargets(serviceIp, 80), [{ ip: '10.1.0.10', port: 8080, ready: true }]);
  assert.equal(view.mtlsMode(), 'STRICT');
  assert.equal(view.allowsInbound(8080, GATEWAY), true, 'no AccessPolicy: every meshed identity');
  assert.equal(view.trustBundlePem(), controlPlane!.ca().trustBundlePem);
});

test('creating and deleting a pod, and changing the EndpointSlice, arrive as deltas within seconds', async () => {
  const view = client!.state;
  let started = Date.now();
  await createPod('shop', 'web-1', 'web', '10.1.0.11', { app: 'web', [MESHED_LABEL]: 'true' });
  await eventually('web-1 endpoint', () => view.endpoint('10.1.0.11'), 2000);
  assert.ok(Date.now() - started < 2000);
  assert.equal(view.endpoint('10.1.0.11')?.identity, WEB);

  started = Date.now();
  const slice = await slices.readNamespacedEndpointSlice({ name: 'web-abcde', namespace: 'shop' });
  await slices.replaceNamespacedEndpointSlice({
    name: 'web-abcde',
    namespace: 'shop',
    body: { ...slice, endpoints: [{ addresses: ['10.1.0.10'], conditions: { ready: true } }, { addresses: ['10.1.0.11'], conditions: { ready: false } }] },
  });
  const targets = await eventually('two service targets', () => {
    const current = view.serviceTargets(serviceIp, 80);
    return current && current.length === 2 ? current : undefined;
  }, 2000);
  assert.deepEqual(targets, [
    { ip: '10.1.0.10', port: 8080, ready: true },
    { ip: '10.1.0.11', port: 8080, ready: false },
  ]);

  await core.deleteNamespacedPod({ name: 'web-1', namespace: 'shop', gracePeriodSeconds: 0 });
  await eventually('web-1 gone', () => (view.endpoint('10.1.0.11') === undefined ? true : undefined), 2000);
  assert.ok(Date.now() - started < 4000);
});

test('an AccessPolicy selecting the watcher\'s pod, and a PERMISSIVE namespace, change its inbound policy', async () => {
  const view = client!.state;
  await custom.createNamespacedCustomObject({
    group: ACCESS_POLICY_GROUP,
    version: ACCESS_POLICY_VERSION,
    namespace: 'shop',
    plural: ACCESS_POLICY_PLURAL,
    body: {
      apiVersion: `${ACCESS_POLICY_GROUP}/${ACCESS_POLICY_VERSION}`,
      kind: 'AccessPolicy',
      metadata: { name: 'web-from-gateway' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, ports: [8080], allowedIdentities: [GATEWAY] },
    },
  });
  await eventually('restricted policy', () => (view.inboundPolicy()?.restricted ? true : undefined), 2000);
  assert.equal(view.allowsInbound(8080, GATEWAY), true);
  assert.equal(view.allowsInbound(8080, 'spiffe://cluster.local/ns/shop/sa/db'), false);
  assert.equal(view.allowsInbound(9090, GATEWAY), false);

  // A policy selecting other pods does not touch this one.
  await custom.createNamespacedCustomObject({
    group: ACCESS_POLICY_GROUP,
    version: ACCESS_POLICY_VERSION,
    namespace: 'shop',
    plural: ACCESS_POLICY_PLURAL,
    body: {
      apiVersion: `${ACCESS_POLICY_GROUP}/${ACCESS_POLICY_VERSION}`,
      kind: 'AccessPolicy',
      metadata: { name: 'db-from-web' },
      spec: { podSelector: { matchLabels: { app: 'db' } }, allowedIdentities: [WEB] },
    },
  });
  await core.patchNamespace({ name: 'shop', body: [{ op: 'add', path: '/metadata/annotations', value: { 'reseal.dev/mtls-mode': 'PERMISSIVE' } }] });
  await eventually('PERMISSIVE', () => (view.mtlsMode() === 'PERMISSIVE' ? true : undefined), 3000);
  assert.deepEqual(view.inboundPolicy()?.rules, [{ port: 8080, allowedIdentities: [GATEWAY] }]);

  await custom.deleteNamespacedCustomObject({ group: ACCESS_POLICY_GROUP, version: ACCESS_POLICY_VERSION, namespace: 'shop', plural: ACCESS_POLICY_PLURAL, name: 'web-from-gateway' });
  await eventually('unrestricted again', () => (view.inboundPolicy()?.restricted === false ? true : undefined), 3000);
});

test('watching as a pod that runs as another ServiceAccount is refused with PERMISSION_DENIED', async () => {
  const wrongPod = await watchOnce({ podNamespace: 'shop', podName: 'db-0' }, { token: await token('shop', 'web') });
  assert.equal(wrongPod.error?.code, grpc.status.PERMISSION_DENIED, wrongPod.error?.details);
  const wrongNamespace = await watchOnce({ podNamespace: 'edge', podName: 'gw-0' }, { token: await token('shop', 'web') });
  assert.equal(wrongNamespace.error?.code, grpc.status.PERMISSION_DENIED);
  const missing = await watchOnce({ podNamespace: 'shop', podName: 'nope' }, { token: await token('shop', 'web') });
  assert.equal(missing.error?.code, grpc.status.PERMISSION_DENIED);
  // A token bound to web-0 cannot watch as another pod of the same ServiceAccount.
  await createPod('shop', 'web-9', 'web', '10.1.0.19', { app: 'web' });
  const otherPod = await watchOnce({ podNamespace: 'shop', podName: 'web-9' }, { token: webToken });
  assert.equal(otherPod.error?.code, grpc.status.PERMISSION_DENIED);
  const anonymous = await watchOnce({ podNamespace: 'shop', podName: 'web-0' }, {});
  assert.equal(anonymous.error?.code, grpc.status.UNAUTHENTICATED);
  const wrongAudience = await core.createNamespacedServiceAccountToken({ name: 'web', namespace: 'shop', body: { spec: { audiences: ['vault'], expirationSeconds: 600 } } });
  const refused = await watchOnce({ podNamespace: 'shop', podName: 'web-0' }, { token: wrongAudience.status!.token });
  assert.equal(refused.error?.code, grpc.status.UNAUTHENTICATED);
});

test('a sidecar may watch with its mesh certificate instead of a token', async () => {
  const identity = new TestIdentityClient(port, controlPlane!.ca().trustBundlePem);
  const { response, keyPem } = await identity.certify(WEB, { token: webToken });
  const watched = await watchOnce({ podNamespace: 'shop', podName: 'web-0' }, { clientCert: { chainPem: response.certificateChainPem, keyPem } });
  assert.equal(watched.first?.fullSnapshot, true, watched.error?.details);
  const denied = await watchOnce({ podNamespace: 'shop', podName: 'db-0' }, { clientCert: { chainPem: response.certificateChainPem, keyPem } });
  assert.equal(denied.error?.code, grpc.status.PERMISSION_DENIED);
});

test('the client keeps its state while the control plane is down and resyncs after it restarts', async () => {
  const view = client!.state;
  assert.equal(client!.connected, true);
  await controlPlane!.stop();
  controlPlane = undefined;
  await eventually('disconnected', () => (client!.connected ? undefined : true), 5000);
  // Still answering from the last snapshot.
  assert.equal(view.synced, true);
  assert.equal(view.endpoint('10.1.0.10')?.identity, WEB);
  assert.equal(view.serviceTargets(serviceIp, 80)?.length, 2);
  assert.equal(view.mtlsMode(), 'PERMISSIVE');

  // The cluster changes while nobody watches it.
  await createPod('shop', 'web-2', 'web', '10.1.0.12', { app: 'web', [MESHED_LABEL]: 'true' });
  controlPlane = await start();
  await eventually('reconnected with web-2', () => (client!.connected && view.endpoint('10.1.0.12') ? true : undefined), 10_000);
  assert.equal(view.endpoint('10.1.0.12')?.identity, WEB);
  assert.equal(view.endpoint('10.1.0.11'), undefined);
});
