// The control plane against a real kube-apiserver + etcd: TokenReview-based issuance, the CA
// stored in a Secret, and trust bundles published to labelled namespaces.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { createCsr, generateWorkloadKeyPair } from '@reseal/core';
import { eventually, startTestCluster, type TestCluster } from '@reseal/test-cluster';
import { pino } from 'pino';
import { CertificateAuthority } from '../src/ca/certificate-authority.js';
import { parseConfig } from '../src/config.js';
import { startControlPlane, type RunningControlPlane } from '../src/control-plane.js';
import { TRUST_BUNDLE_CONFIGMAP, TRUST_BUNDLE_KEY } from '../src/trust-bundle/trust-bundle-publisher.js';
import { TestIdentityClient } from './support/identity-client.js';
import { serviceAccountJwt } from './support/jwt.js';
import { scrapeMetrics, type Scrape } from './support/metrics-text.js';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
let cluster: TestCluster;
let core: CoreV1Api;
let controlPlane: RunningControlPlane | undefined;
let client: TestIdentityClient;
const logger = pino({ level: process.env['RESEAL_TEST_LOG'] ?? 'silent' });

async function start(): Promise<RunningControlPlane> {
  const config = parseConfig({ RESEAL_LISTEN_HOST: '127.0.0.1', RESEAL_IDENTITY_PORT: '0', RESEAL_ADMIN_PORT: '0' });
  return startControlPlane(config, { logger, kubeConfig: cluster.kubeConfig, caPollIntervalMs: 300, trustBundleResyncMs: 1000 });
}

async function token(namespace: string, serviceAccount: string, audiences: string[]): Promise<string> {
  const review = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences, expirationSeconds: 600 } },
  });
  const issued = review.status?.token;
  if (!issued) throw new Error('TokenRequest returned no token');
  return issued;
}

function metrics(): Promise<Scrape> {
  return scrapeMetrics(controlPlane!.adminPort);
}

async function bundleIn(namespace: string): Promise<string | undefined> {
  let cm: V1ConfigMap;
  try {
    cm = await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace });
  } catch {
    return undefined;
  }
  return cm.data?.[TRUST_BUNDLE_KEY];
}

before(async () => {
  cluster = await startTestCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'reseal-system' } } });
  await core.createNamespace({ body: { metadata: { name: 'shop', labels: { 'reseal.dev/inject': 'enabled' } } } });
  await core.createNamespace({ body: { metadata: { name: 'plain' } } });
  for (const name of ['web', 'temp']) await core.createNamespacedServiceAccount({ namespace: 'shop', body: { metadata: { name } } });
  controlPlane = await start();
  client = new TestIdentityClient(controlPlane.identityPort, controlPlane.ca().trustBundlePem);
});

after(async () => {
  await controlPlane?.stop();
  await cluster?.stop();
});

test('a TokenRequest token for shop/web with audience reseal gets spiffe://cluster.local/ns/shop/sa/web', async () => {
  const { response } = await client.certify(WEB, { token: await token('shop', 'web', ['reseal']) });
  assert.equal(response.spiffeId, WEB);
});

test('the same token cannot get a certificate for another ServiceAccount', async () => {
  const { error } = await client.certifyRaw(
    csr('spiffe://cluster.local/ns/shop/sa/temp'),
    { token: await token('shop', 'web', ['reseal']) },
  );
  assert.equal(error?.code, status.PERMISSION_DENIED);
});

test('a token for another audience is refused', async () => {
  const { error } = await client.certifyRaw(csr(WEB), { token: await token('shop', 'web', ['vault']) });
  assert.equal(error?.code, status.UNAUTHENTICATED);
  assert.match(error.details, /TokenReview|audience/);
});

test('an expired token, signed with the real service-account key, is refused', async () => {
  const sa = await core.readNamespacedServiceAccount({ name: 'web', namespace: 'shop' });
  const now = Math.floor(Date.now() / 1000);
  const expired = serviceAccountJwt(readFileSync(join(cluster.dir, 'sa.key'), 'utf8'), {
    issuer: cluster.serviceAccountIssuer,
    namespace: 'shop',
    serviceAccount: 'web',
    uid: sa.metadata!.uid!,
    audience: ['reseal'],
    issuedAt: now - 7200,
    expiresAt: now - 3600,
  });
  const { error } = await client.certifyRaw(csr(WEB), { token: expired });
  assert.equal(error?.code, status.UNAUTHENTICATED);
});

test('a forged token (signed by another key) is refused', async () => {
  const sa = await core.readNamespacedServiceAccount({ name: 'web', namespace: 'shop' });
  const now = Math.floor(Date.now() / 1000);
  const forged = serviceAccountJwt(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, {
    issuer: cluster.serviceAccountIssuer,
    namespace: 'shop',
    serviceAccount: 'web',
    uid: sa.metadata!.uid!,
    audience: ['reseal'],
    issuedAt: now - 10,
    expiresAt: now + 600,
  });
  const { error } = await client.certifyRaw(csr(WEB), { token: forged });
  assert.equal(error?.code, status.UNAUTHENTICATED);
  const { error: garbage } = await client.certifyRaw(csr(WEB), { token: 'not.a.jwt' });
  assert.equal(garbage?.code, status.UNAUTHENTICATED);
});

test('a token for a deleted ServiceAccount is refused', async () => {
  const tempToken = await token('shop', 'temp', ['reseal']);
  const before = await client.certify('spiffe://cluster.local/ns/shop/sa/temp', { token: tempToken });
  assert.equal(before.response.spiffeId, 'spiffe://cluster.local/ns/shop/sa/temp');
  await core.deleteNamespacedServiceAccount({ name: 'temp', namespace: 'shop' });
  // kube-apiserver caches successful token authentications for 10 s, so a token reviewed
  // just before the deletion may pass for that long; from then on it must be refused, every time.
  const error = await eventually('the token to be refused', async () => (await client.certifyRaw(csr('spiffe://cluster.local/ns/shop/sa/temp'), { token: tempToken })).error, 15_000);
  assert.equal(error.code, status.UNAUTHENTICATED);
  for (let i = 0; i < 3; i++) {
    const again = await client.certifyRaw(csr('spiffe://cluster.local/ns/shop/sa/temp'), { token: tempToken });
    assert.equal(again.error?.code, status.UNAUTHENTICATED);
  }
});

test('the CA is stored in a kubernetes.io/tls Secret with ca.crt, and reused after a restart', async () => {
  const secret = await core.readNamespacedSecret({ name: 'reseal-ca', namespace: 'reseal-system' });
  assert.equal(secret.type, 'kubernetes.io/tls');
  assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  const bundle = controlPlane!.ca().trustBundlePem;
  await controlPlane!.stop();
  controlPlane = await start();
  assert.equal(controlPlane.ca().trustBundlePem, bundle);
  client = new TestIdentityClient(controlPlane.identityPort, bundle);
  const { response } = await client.certify(WEB, { token: await token('shop', 'web', ['reseal']) });
  assert.equal(response.spiffeId, WEB);
});

test('a labelled namespace gets the trust bundle within seconds; an unlabelled one does not', async () => {
  const bundle = controlPlane!.ca().trustBundlePem;
  assert.equal(await eventually('bundle in shop', () => bundleIn('shop')), bundle);
  await core.createNamespace({ body: { metadata: { name: 'late', labels: { 'reseal.dev/inject': 'enabled' } } } });
  const started = Date.now();
  assert.equal(await eventually('bundle in late', () => bundleIn('late'), 5000), bundle);
  assert.ok(Date.now() - started < 5000);
  // Labelling an existing namespace later counts too.
  await core.patchNamespace({ name: 'plain', body: [{ op: 'add', path: '/metadata/labels', value: { 'reseal.dev/inject': 'enabled' } }] });
  assert.equal(await eventually('bundle in plain', () => bundleIn('plain'), 5000), bundle);
  await core.createNamespace({ body: { metadata: { name: 'unmeshed' } } });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await bundleIn('unmeshed'), undefined);
});

test('a deleted or edited bundle ConfigMap is repaired', async () => {
  const bundle = controlPlane!.ca().trustBundlePem;
  await core.deleteNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: 'late' });
  assert.equal(await eventually('bundle restored', () => bundleIn('late')), bundle);
  await core.patchNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: 'late', body: [{ op: 'replace', path: `/data/${TRUST_BUNDLE_KEY.replace('/', '~1')}`, value: 'tampered' }] });
  assert.equal(await eventually('bundle repaired', async () => ((await bundleIn('late')) === bundle ? bundle : undefined)), bundle);
});

test('/metrics counts trust-bundle ConfigMap writes and refused writes, not resyncs that find the bundle in place', async () => {
  const publishes = (scrape: Scrape, result: string): number | undefined => scrape.value('reseal_trust_bundle_publish_total', { result });
  // Since the restart: created in late and plain, re-created and repaired in late; shop was already right.
  const settled = await metrics();
  assert.equal(publishes(settled, 'ok'), 4, settled.text);
  assert.equal(publishes(settled, 'failed'), 0, 'the failure series exists from the start, at 0');
  // Resyncs every second over three namespaces: nothing to write, nothing counted.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(publishes(await metrics(), 'ok'), 4);

  // A quota of zero ConfigMaps: the API server refuses the write. No quota controller runs
  // here, so the test writes the status it would (admission only enforces a counted quota).
  await core.createNamespace({ body: { metadata: { name: 'full' } } });
  const quota = await core.createNamespacedResourceQuota({ namespace: 'full', body: { metadata: { name: 'no-configmaps' }, spec: { hard: { configmaps: '0' } } } });
  await core.replaceNamespacedResourceQuotaStatus({ name: 'no-configmaps', namespace: 'full', body: { ...quota, status: { hard: { configmaps: '0' }, used: { configmaps: '0' } } } });
  await core.patchNamespace({ name: 'full', body: [{ op: 'add', path: '/metadata/labels', value: { 'reseal.dev/inject': 'enabled' } }] });
  await eventually('a failed publication', async () => ((publishes(await metrics(), 'failed') ?? 0) >= 1 ? true : undefined), 5000);
  assert.equal(await bundleIn('full'), undefined);
  await core.deleteNamespacedResourceQuota({ name: 'no-configmaps', namespace: 'full' });
  assert.equal(await eventually('bundle in full', () => bundleIn('full'), 10_000), controlPlane!.ca().trustBundlePem);
  assert.equal(await eventually('the write counted', async () => ((publishes(await metrics(), 'ok') ?? 0) === 5 ? 5 : undefined), 5000), 5);
});

test('a root added to the CA Secret reaches every labelled namespace (root rotation, no restart)', async () => {
  const atStart = await metrics();
  assert.equal(atStart.value('reseal_ca_trust_anchors'), 1);
  const loadedAt = atStart.value('reseal_ca_last_reload_timestamp_seconds');
  assert.ok(loadedAt !== undefined && loadedAt <= Date.now() / 1000 && loadedAt > Date.now() / 1000 - 600, `the start-up load is the last one: ${loadedAt}`);
  assert.equal(atStart.value('reseal_ca_reloads_total', { result: 'ok' }), 0);
  assert.equal(atStart.value('reseal_ca_reloads_total', { result: 'failed' }), 0);
  const rotatedAt = Date.now() / 1000;
  const secret = await core.readNamespacedSecret({ name: 'reseal-ca', namespace: 'reseal-system' });
  const newRoot = CertificateAuthority.generate({ trustDomain: 'cluster.local' }).trustBundlePem;
  const oldBundle = Buffer.from(secret.data!['ca.crt']!, 'base64').toString();
  const rotated = oldBundle.trimEnd() + '\n' + newRoot;
  await core.replaceNamespacedSecret({
    name: 'reseal-ca',
    namespace: 'reseal-system',
    body: { ...secret, data: { ...secret.data, 'ca.crt': Buffer.from(rotated).toString('base64') } },
  });
  for (const namespace of ['shop', 'late', 'plain']) {
    const published = await eventually(`two roots in ${namespace}`, async () => {
      const pem = await bundleIn(namespace);
      return pem && (pem.match(/BEGIN CERTIFICATE/g) ?? []).length === 2 ? pem : undefined;
    });
    assert.ok(published.includes(newRoot.trim().split('\n')[1]!), `the new root is in ${namespace}`);
  }
  // Issuance goes on with the same issuer.
  const { response } = await client.certify(WEB, { token: await token('shop', 'web', ['reseal']) });
  assert.equal((response.trustBundlePem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);

  const rotatedScrape = await metrics();
  assert.equal(rotatedScrape.value('reseal_ca_trust_anchors'), 2, 'both roots are trust anchors during the rotation');
  assert.equal(rotatedScrape.value('reseal_ca_reloads_total', { result: 'ok' }), 1);
  assert.equal(rotatedScrape.value('reseal_ca_reloads_total', { result: 'failed' }), 0);
  assert.ok(rotatedScrape.value('reseal_ca_last_reload_timestamp_seconds')! >= rotatedAt - 1, 'the reload time moved to the rotation');
});

test('a broken CA Secret is refused and the CA in use stays', async () => {
  const secret = await core.readNamespacedSecret({ name: 'reseal-ca', namespace: 'reseal-system' });
  const before = controlPlane!.ca().trustBundlePem;
  const lastReload = (await metrics()).value('reseal_ca_last_reload_timestamp_seconds');
  await core.replaceNamespacedSecret({
    name: 'reseal-ca',
    namespace: 'reseal-system',
    body: { ...secret, data: { ...secret.data, 'tls.key': Buffer.from('garbage').toString('base64') } },
  });
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(controlPlane!.ca().trustBundlePem, before);
  const { response } = await client.certify(WEB, { token: await token('shop', 'web', ['reseal']) });
  assert.equal(response.spiffeId, WEB);

  // Counted once (the broken version is not retried), and the gauges still describe the CA in use.
  const after = await metrics();
  assert.equal(after.value('reseal_ca_reloads_total', { result: 'failed' }), 1);
  assert.equal(after.value('reseal_ca_reloads_total', { result: 'ok' }), 1);
  assert.equal(after.value('reseal_ca_trust_anchors'), 2);
  assert.equal(after.value('reseal_ca_last_reload_timestamp_seconds'), lastReload);
});

function csr(id: string): Buffer {
  const key = generateWorkloadKeyPair();
  return createCsr(key.privateKey, key.publicKey, id);
}
