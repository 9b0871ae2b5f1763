// The admission webhook's TLS, kept by the control plane against a real kube-apiserver + etcd:
// the caBundle patched into the MutatingWebhookConfiguration, the injector's serving Secret,
// one writer among several replicas (the Lease holder), renewal and CA changes.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, connect } from 'node:tls';
import { after, before, test } from 'node:test';
import { AdmissionregistrationV1Api, CoordinationV1Api, CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { eventually, startTestCluster, type TestCluster } from '@reseal/test-cluster';
import { pino } from 'pino';
import { CertificateAuthority } from '../src/ca/certificate-authority.js';
import { parseConfig } from '../src/config.js';
import { startControlPlane, type RunningControlPlane } from '../src/control-plane.js';
import { scrapeMetrics } from './support/metrics-text.js';

const NAMESPACE = 'reseal-system';
const CONFIGURATION = 'reseal-injector';
const SECRET = 'reseal-injector-tls';
const DNS_NAMES = ['reseal-injector.reseal-system.svc', 'reseal-injector.reseal-system.svc.cluster.local'];

let cluster: TestCluster;
let core: CoreV1Api;
let admission: AdmissionregistrationV1Api;
let leases: CoordinationV1Api;
const running = new Set<Replica>();

interface Replica {
  controlPlane: RunningControlPlane;
  /** The replica's log events, parsed. */
  events: { event?: string; [key: string]: unknown }[];
}

async function startReplica(env: Record<string, string> = {}): Promise<Replica> {
  const events: Replica['events'] = [];
  const echo = process.env['RESEAL_TEST_LOG'];
  const logger = pino({ level: 'info' }, {
    write(line: string) {
      events.push(JSON.parse(line) as Replica['events'][number]);
      if (echo) process.stderr.write(line);
    },
  });
  const config = parseConfig({ RESEAL_LISTEN_HOST: '127.0.0.1', RESEAL_IDENTITY_PORT: '0', RESEAL_ADMIN_PORT: '0', ...env });
  const controlPlane = await startControlPlane(config, {
    logger,
    kubeConfig: cluster.kubeConfig,
    caPollIntervalMs: 300,
    trustBundleResyncMs: 1000,
    webhookResyncMs: 500,
    leaderElection: { leaseDurationSeconds: 4, renewIntervalMs: 1000, renewDeadlineMs: 3000, retryIntervalMs: 250 },
  });
  const replica = { controlPlane, events };
  running.add(replica);
  return replica;
}

async function stopReplica(replica: Replica): Promise<void> {
  running.delete(replica);
  await replica.controlPlane.stop();
}

async function caBundles(): Promise<(string | undefined)[]> {
  const configuration = await admission.readMutatingWebhookConfiguration({ name: CONFIGURATION });
  return (configuration.webhooks ?? []).map((w) => (w.clientConfig.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString() : undefined));
}

async function servingSecret(): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ name: SECRET, namespace: NAMESPACE });
  } catch {
    return undefined;
  }
}

/** What /metrics of a replica says about its leadership. */
async function leaderMetrics(replica: Replica): Promise<{ leader?: number; acquired?: number; lost?: number }> {
  const scrape = await scrapeMetrics(replica.controlPlane.adminPort);
  return {
    leader: scrape.value('reseal_leader'),
    acquired: scrape.value('reseal_leader_transitions_total', { transition: 'acquired' }),
    lost: scrape.value('reseal_leader_transitions_total', { transition: 'lost' }),
  };
}

function field(secret: V1Secret, key: string): string {
  return Buffer.from(secret.data?.[key] ?? '', 'base64').toString();
}

function leafOf(secret: V1Secret): X509Certificate {
  return new X509Certificate(field(secret, 'tls.crt'));
}

async function bundleEverywhere(bundle: string): Promise<true | undefined> {
  return (await caBundles()).every((b) => b === bundle) || undefined;
}

/** A TLS server with the Secret's key pair, and a client that trusts only `caPem` and checks the name. */
async function handshake(secret: V1Secret, caPem: string, servername: string): Promise<void> {
  const server = createServer({ cert: field(secret, 'tls.crt'), key: field(secret, 'tls.key') }, (socket) => socket.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: caPem, servername });
    try {
      await once(socket, 'secureConnect');
    } finally {
      socket.destroy();
    }
  } finally {
    server.close();
  }
}

function webhook(name: string): object {
  return {
    name,
    clientConfig: { service: { namespace: NAMESPACE, name: 'reseal-injector', path: '/mutate', port: 443 } },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    // Matches no namespace in this test: nothing is sent to the (absent) injector.
    namespaceSelector: { matchLabels: { 'reseal.test/never': 'true' } },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 10,
  };
}

before(async () => {
  cluster = await startTestCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  admission = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  leases = cluster.kubeConfig.makeApiClient(CoordinationV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await admission.createMutatingWebhookConfiguration({
    body: { metadata: { name: CONFIGURATION }, webhooks: [webhook('pods.reseal.dev'), webhook('pods-again.reseal.dev')] } as never,
  });
});

after(async () => {
  for (const replica of running) await replica.controlPlane.stop();
  await cluster?.stop();
});

let first: Replica;

test('the control plane patches caBundle of every webhook to the trust bundle within seconds', async () => {
  assert.deepEqual(await caBundles(), [undefined, undefined]);
  first = await startReplica();
  const started = Date.now();
  const bundle = first.controlPlane.ca().trustBundlePem;
  await eventually('caBundle patched', () => bundleEverywhere(bundle), 20_000);
  assert.ok(Date.now() - started < 10_000, `patched after ${Date.now() - started} ms`);
  assert.ok(first.events.some((e) => e.event === 'webhook_ca_bundle_patched'));
});

test('the injector Secret holds a certificate for the Service names that chains to the bundle', async () => {
  const bundle = first.controlPlane.ca().trustBundlePem;
  const secret = await eventually('the Secret', servingSecret);
  assert.equal(secret.type, 'kubernetes.io/tls');
  assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  assert.equal(field(secret, 'ca.crt'), bundle);
  const leaf = leafOf(secret);
  for (const name of DNS_NAMES) assert.ok(leaf.checkHost(name), `valid for ${name}`);
  assert.equal(leaf.ca, false);
  const lifetimeHours = (leaf.validToDate.getTime() - Date.now()) / 3_600_000;
  assert.ok(lifetimeHours > 23 && lifetimeHours <= 24, `24 h certificate by default, got ${lifetimeHours} h`);
  assert.ok(leaf.checkPrivateKey(createPrivateKey(field(secret, 'tls.key'))));
  // What the API server does when it calls the webhook: trust only caBundle, check the name.
  const [caBundle] = await caBundles();
  for (const name of DNS_NAMES) await handshake(secret, caBundle!, name);
  await assert.rejects(handshake(secret, caBundle!, 'reseal-control-plane.reseal-system.svc'), /altnames|Hostname/i);
  await assert.rejects(handshake(secret, CertificateAuthority.generate({ trustDomain: 'cluster.local' }).trustBundlePem, DNS_NAMES[0]!), /certificate/i);
});

test('with two replicas only the Lease holder writes; a tampered caBundle and a deleted Secret are repaired by it', async () => {
  const second = await startReplica();
  await new Promise((r) => setTimeout(r, 1500));
  const replicas = [first, second];
  const leaders = replicas.filter((r) => r.controlPlane.leadership()?.leading);
  assert.equal(leaders.length, 1, 'exactly one leader');
  const leader = leaders[0]!;
  const follower = replicas.find((r) => r !== leader)!;
  const lease = await leases.readNamespacedLease({ name: 'reseal-control-plane', namespace: NAMESPACE });
  assert.equal(lease.spec?.holderIdentity, leader.controlPlane.leadership()!.identity);
  assert.match(lease.spec!.holderIdentity!, /_[0-9a-f]{8}$/);

  const bundle = leader.controlPlane.ca().trustBundlePem;
  await admission.patchMutatingWebhookConfiguration({
    name: CONFIGURATION,
    body: [{ op: 'replace', path: '/webhooks/1/clientConfig/caBundle', value: Buffer.from('tampered').toString('base64') }],
  });
  await eventually('caBundle repaired', () => bundleEverywhere(bundle));
  const oldSerial = leafOf((await servingSecret())!).serialNumber;
  await core.deleteNamespacedSecret({ name: SECRET, namespace: NAMESPACE });
  const recreated = await eventually('Secret recreated', servingSecret);
  assert.notEqual(leafOf(recreated).serialNumber, oldSerial);

  const writes = (r: Replica): number => r.events.filter((e) => e.event === 'webhook_ca_bundle_patched' || e.event === 'webhook_certificate_issued').length;
  assert.ok(writes(leader) >= 2);
  assert.equal(writes(follower), 0, 'the follower never wrote');
  assert.ok(follower.events.some((e) => e.event === 'leader_observed'));

  // /metrics: which replica leads; the follower's series exist too, at 0.
  assert.deepEqual(await leaderMetrics(leader), { leader: 1, acquired: 1, lost: 0 });
  assert.deepEqual(await leaderMetrics(follower), { leader: 0, acquired: 0, lost: 0 });
});

test('when the leader stops, the other replica takes over and keeps the caBundle', async () => {
  const leader = [...running].find((r) => r.controlPlane.leadership()?.leading)!;
  const follower = [...running].find((r) => r !== leader)!;
  await stopReplica(leader);
  await eventually('the follower to lead', () => follower.controlPlane.leadership()?.leading || undefined, 6000);
  const lease = await leases.readNamespacedLease({ name: 'reseal-control-plane', namespace: NAMESPACE });
  assert.equal(lease.spec?.holderIdentity, follower.controlPlane.leadership()!.identity);
  await admission.patchMutatingWebhookConfiguration({
    name: CONFIGURATION,
    body: [{ op: 'remove', path: '/webhooks/0/clientConfig/caBundle' }],
  });
  await eventually('caBundle repaired by the new leader', () => bundleEverywhere(follower.controlPlane.ca().trustBundlePem));
  assert.deepEqual(await leaderMetrics(follower), { leader: 1, acquired: 1, lost: 0 });
  first = follower;
});

test('a leader whose Lease is taken shows reseal_leader 0 and a lost transition, and an acquired one when it leads again', async () => {
  const lease = await leases.readNamespacedLease({ name: 'reseal-control-plane', namespace: NAMESPACE });
  assert.equal(lease.spec?.holderIdentity, first.controlPlane.leadership()!.identity);
  // A replica that lost its connection and came back late writes the Lease.
  await leases.replaceNamespacedLease({ name: 'reseal-control-plane', namespace: NAMESPACE, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } } });
  await eventually('the leader to step down', () => (first.controlPlane.leadership()?.leading ? undefined : true), 5000);
  assert.deepEqual(await leaderMetrics(first), { leader: 0, acquired: 1, lost: 1 });
  // The intruder never renews: the Lease expires (4 s) and the replica takes it back.
  await eventually('the replica to lead again', () => first.controlPlane.leadership()?.leading || undefined, 10_000);
  assert.deepEqual(await leaderMetrics(first), { leader: 1, acquired: 2, lost: 1 });
});

test('a new CA: caBundle follows at once; the certificate is kept while its root is trusted, reissued when it is not', async () => {
  const caSecret = await core.readNamespacedSecret({ name: 'reseal-ca', namespace: NAMESPACE });
  const oldRoots = field(caSecret, 'ca.crt');
  const oldSerial = leafOf((await servingSecret())!).serialNumber;
  const next = CertificateAuthority.generate({ trustDomain: 'cluster.local' }).toPem();
  // Stage 1 of a root rotation: the new issuer signs, both roots are trusted.
  const bothRoots = oldRoots + next['ca.crt'];
  await core.replaceNamespacedSecret({
    name: 'reseal-ca',
    namespace: NAMESPACE,
    body: { ...caSecret, data: { 'tls.crt': b64(next['tls.crt']), 'tls.key': b64(next['tls.key']), 'ca.crt': b64(bothRoots) } },
  });
  await eventually('caBundle with both roots', () => bundleEverywhere(bothRoots));
  const kept = await eventually('ca.crt updated', async () => {
    const secret = await servingSecret();
    return secret && field(secret, 'ca.crt') === bothRoots ? secret : undefined;
  });
  assert.equal(leafOf(kept).serialNumber, oldSerial, 'still trusted: not reissued');

  // Stage 2: the old root is dropped; the certificate issued under it must go.
  const stage1 = await core.readNamespacedSecret({ name: 'reseal-ca', namespace: NAMESPACE });
  await core.replaceNamespacedSecret({ name: 'reseal-ca', namespace: NAMESPACE, body: { ...stage1, data: { ...stage1.data, 'ca.crt': b64(next['ca.crt']) } } });
  await eventually('caBundle with the new root only', () => bundleEverywhere(next['ca.crt']));
  const reissued = await eventually('a certificate under the new CA', async () => {
    const secret = await servingSecret();
    return secret && leafOf(secret).serialNumber !== oldSerial ? secret : undefined;
  });
  assert.equal(field(reissued, 'ca.crt'), next['ca.crt']);
  await handshake(reissued, next['ca.crt'], DNS_NAMES[0]!);
});

test('rotation: with a 60 s TTL the certificate is replaced at half-life', { timeout: 120_000 }, async () => {
  for (const replica of [...running]) await stopReplica(replica);
  const short = await startReplica({ RESEAL_WEBHOOK_CERT_TTL: '60s' });
  // The 24 h certificate is not due; a deleted one is reissued with the configured TTL.
  await core.deleteNamespacedSecret({ name: SECRET, namespace: NAMESPACE });
  const issued = leafOf(await eventually('a 60 s certificate', servingSecret, 15_000));
  const issuedAt = Date.now();
  assert.ok(issued.validToDate.getTime() - issuedAt <= 61_000);
  const renewed = leafOf(
    await eventually(
      'the renewed certificate',
      async () => {
        const secret = await servingSecret();
        return secret && leafOf(secret).serialNumber !== issued.serialNumber ? secret : undefined;
      },
      60_000,
    ),
  );
  const after = Date.now() - issuedAt;
  assert.ok(after >= 25_000 && after <= 40_000, `renewed ${after} ms after issuance`);
  assert.ok(renewed.validToDate > issued.validToDate);
  assert.ok(short.events.some((e) => e.event === 'webhook_certificate_issued' && e['reason'] === 'past half of its lifetime'));
});

test('RESEAL_WEBHOOK_CONFIGURATION="" turns the webhook certificate (and the election) off', async () => {
  const config = parseConfig({ RESEAL_WEBHOOK_CONFIGURATION: '' });
  assert.equal(config.webhook, undefined);
  const defaults = parseConfig({});
  assert.deepEqual(defaults.webhook, { configurationName: 'reseal-injector', secretName: 'reseal-injector-tls', serviceName: 'reseal-injector', certTtlSeconds: 86_400 });
  assert.equal(defaults.leaderElection.leaseName, 'reseal-control-plane');
  assert.equal(parseConfig({ RESEAL_POD_NAME: 'reseal-control-plane-abc' }).leaderElection.identity, 'reseal-control-plane-abc');
  assert.throws(() => parseConfig({ RESEAL_WEBHOOK_CERT_TTL: '30s' }), /RESEAL_WEBHOOK_CERT_TTL/);
});

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}
