// The webhook registered with a real kube-apiserver through a MutatingWebhookConfiguration
// (url + caBundle), exactly as the install manifests register it: what gets stored is what
// matters, including under reinvocation by a second mutating webhook.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { AdmissionregistrationV1Api, CoreV1Api, type V1MutatingWebhook, type V1Pod } from '@kubernetes/client-node';
import { generateWorkloadKeyPair } from '@reseal/core';
import { eventually, startTestCluster, type TestCluster } from '@reseal/test-cluster';
import { startTestWebhook, type RunningTestWebhook } from './support/webhook-harness.js';

const MESHED = 'meshed';
const PLAIN = 'plain';
const WEBHOOK_NAME = 'inject.reseal.dev';
let cluster: TestCluster;
let core: CoreV1Api;
let admission: AdmissionregistrationV1Api;
let webhook: RunningTestWebhook;
let otherMutator: Server | undefined;

function resealWebhook(url: string, caBundlePem: string): V1MutatingWebhook {
  return {
    name: WEBHOOK_NAME,
    clientConfig: { url, caBundle: Buffer.from(caBundlePem).toString('base64') },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
    namespaceSelector: { matchLabels: { 'reseal.dev/inject': 'enabled' } },
    objectSelector: { matchExpressions: [{ key: 'reseal.dev/inject', operator: 'NotIn', values: ['disabled'] }] },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    timeoutSeconds: 10,
    reinvocationPolicy: 'IfNeeded',
    admissionReviewVersions: ['v1'],
  };
}

function pod(name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string>; hostNetwork?: boolean } = {}): V1Pod {
  return {
    metadata: { name, labels: { app: 'web', ...extra.labels }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      serviceAccountName: 'web',
      ...(extra.hostNetwork ? { hostNetwork: true } : {}),
      containers: [
        {
          name: 'web',
          image: 'registry.example/web:1',
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
        },
      ],
    },
  };
}

/** The client returns class instances; deepStrictEqual compares prototypes too. */
const plain = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
const names = (list: { name: string }[] | undefined): string[] => (list ?? []).map((c) => c.name);

function assertInjectedOnce(stored: V1Pod): void {
  assert.deepEqual(names(stored.spec?.initContainers), ['reseal-init', 'reseal-proxy']);
  assert.deepEqual(names(stored.spec?.containers), ['web']);
  assert.deepEqual(names(stored.spec?.volumes).filter((n) => n.startsWith('reseal-')), ['reseal-token', 'reseal-trust-bundle', 'reseal-identity', 'reseal-tmp']);
  assert.equal(stored.metadata?.labels?.['reseal.dev/meshed'], 'true');
  assert.equal(stored.metadata?.annotations?.['reseal.dev/injected-version'], '0.1.0');
  const web = stored.spec?.containers[0];
  assert.deepEqual(plain(web?.readinessProbe?.httpGet), { path: '/app-health/web/readiness', port: 15020, scheme: 'HTTP' });
  const env = stored.spec?.initContainers?.[1]?.env ?? [];
  assert.equal(env.filter((e) => e.name === 'RESEAL_APP_PROBES').length, 1);
  assert.deepEqual(JSON.parse(env.find((e) => e.name === 'RESEAL_APP_PROBES')?.value ?? '{}'), {
    // The webhook sees the pod after the API server's defaulting (scheme, timeoutSeconds).
    web: { readiness: { httpGet: { path: '/ready', port: 8080, scheme: 'HTTP' }, timeoutSeconds: 1 } },
  });
}

function assertUntouched(stored: V1Pod): void {
  assert.deepEqual(names(stored.spec?.initContainers), []);
  assert.deepEqual(names(stored.spec?.containers), ['web']);
  assert.equal(stored.metadata?.labels?.['reseal.dev/meshed'], undefined);
  assert.deepEqual(plain(stored.spec?.containers[0]?.readinessProbe?.httpGet), { path: '/ready', port: 'http', scheme: 'HTTP' });
}

before(async () => {
  cluster = await startTestCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  admission = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  webhook = await startTestWebhook();
  await core.createNamespace({ body: { metadata: { name: MESHED, labels: { 'reseal.dev/inject': 'enabled' } } } });
  await core.createNamespace({ body: { metadata: { name: PLAIN } } });
  await admission.createMutatingWebhookConfiguration({
    body: { metadata: { name: 'reseal-injector' }, webhooks: [resealWebhook(webhook.server.url, webhook.certificates.caBundlePem)] },
  });
  // The API server picks up webhook configurations asynchronously.
  await eventually('the webhook to be active', async () => {
    const probe = await core.createNamespacedPod({ namespace: MESHED, body: pod('activation-probe'), dryRun: 'All' });
    return probe.spec?.initContainers?.length ? true : undefined;
  }, 20_000, 200);
});

after(async () => {
  otherMutator?.closeAllConnections();
  otherMutator?.close();
  await webhook?.stop();
  await cluster?.stop();
});

describe('pods created through the API server', () => {
  test('a pod in a labelled namespace is stored injected', async () => {
    await core.createNamespacedPod({ namespace: MESHED, body: pod('web-1') });
    assertInjectedOnce(await core.readNamespacedPod({ namespace: MESHED, name: 'web-1' }));
    const line = webhook.logs.admissions().find((l) => l.pod === 'web-1' && l.result === 'injected');
    assert.ok(line, 'the admission was logged');
    assert.equal(line.namespace, MESHED);
  });

  test('a pod in an unlabelled namespace is stored untouched (the webhook is not even called)', async () => {
    await core.createNamespacedPod({ namespace: PLAIN, body: pod('web-plain') });
    assertUntouched(await core.readNamespacedPod({ namespace: PLAIN, name: 'web-plain' }));
    assert.equal(webhook.logs.admissions().some((l) => l.pod === 'web-plain'), false);
  });

  test('an opted-out pod is stored untouched (the objectSelector drops it)', async () => {
    await core.createNamespacedPod({ namespace: MESHED, body: pod('web-opted-out', { labels: { 'reseal.dev/inject': 'disabled' } }) });
    assertUntouched(await core.readNamespacedPod({ namespace: MESHED, name: 'web-opted-out' }));
    assert.equal(webhook.logs.admissions().some((l) => l.pod === 'web-opted-out'), false);
  });

  test('a hostNetwork pod is stored untouched (the webhook skips it)', async () => {
    await core.createNamespacedPod({ namespace: MESHED, body: pod('web-host', { hostNetwork: true }) });
    assertUntouched(await core.readNamespacedPod({ namespace: MESHED, name: 'web-host' }));
    assert.equal(webhook.logs.admissions().find((l) => l.pod === 'web-host')?.reason, 'hostNetwork pod');
  });

  test('the same pod spec created twice is injected once each; a generateName pod too', async () => {
    const spec = pod('ignored');
    for (const name of ['twice-a', 'twice-b']) {
      await core.createNamespacedPod({ namespace: MESHED, body: { ...structuredClone(spec), metadata: { ...spec.metadata, name } } });
      assertInjectedOnce(await core.readNamespacedPod({ namespace: MESHED, name }));
    }
    const generated = await core.createNamespacedPod({ namespace: MESHED, body: { ...structuredClone(spec), metadata: { generateName: 'web-5d8f-', labels: { app: 'web' } } } });
    assertInjectedOnce(generated);
  });

  test('an already injected pod submitted again gets nothing more', async () => {
    const stored = await core.readNamespacedPod({ namespace: MESHED, name: 'web-1' });
    const copy: V1Pod = { metadata: { name: 'web-1-copy', labels: stored.metadata?.labels, annotations: stored.metadata?.annotations }, spec: stored.spec };
    if (copy.spec) copy.spec.nodeName = undefined;
    await core.createNamespacedPod({ namespace: MESHED, body: copy });
    assertInjectedOnce(await core.readNamespacedPod({ namespace: MESHED, name: 'web-1-copy' }));
    assert.equal(webhook.logs.admissions().find((l) => l.pod === 'web-1-copy')?.reason, 'already injected');
  });

  test('an invalid annotation is denied by the API server with a message naming it', async () => {
    await assert.rejects(
      core.createNamespacedPod({ namespace: MESHED, body: pod('bad-annotation', { annotations: { 'reseal.dev/proxy-memory': '64' } }) }),
      (error: unknown) => {
        const raw = (error as { body?: unknown }).body;
        const body = typeof raw === 'string' ? raw : JSON.stringify(raw);
        assert.match(body, /admission webhook \\"inject.reseal.dev\\" denied the request/);
        assert.match(body, /reseal.dev\/proxy-memory/);
        return true;
      },
    );
  });

  test('ingress mode reaches the stored pod', async () => {
    await core.createNamespacedPod({ namespace: MESHED, body: pod('ingress', { annotations: { 'reseal.dev/inject-mode': 'ingress' } }) });
    const stored = await core.readNamespacedPod({ namespace: MESHED, name: 'ingress' });
    assert.ok(stored.spec?.initContainers?.[0]?.args?.includes('--mode=ingress'));
    assert.equal(stored.spec?.initContainers?.[1]?.env?.find((e) => e.name === 'RESEAL_INJECT_MODE')?.value, 'ingress');
  });
});

describe('reinvocation', () => {
  test('a later webhook changing the pod re-invokes the injector, which adds nothing', async () => {
    // A second mutating webhook that runs after Reseal and adds an annotation, which makes the
    // API server call Reseal again (reinvocationPolicy IfNeeded).
    const { publicKey, privateKey } = generateWorkloadKeyPair();
    const issued = webhook.certificates.ca.issueServingCertificate({ publicKey, dnsNames: ['localhost'], clientAuth: false, ttlSeconds: 3600 });
    const calls: string[] = [];
    otherMutator = createServer({ cert: issued.chainPem, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString()) as { request: { uid: string; object: V1Pod } };
        calls.push(review.request.object.metadata?.name ?? '');
        const hasAnnotations = review.request.object.metadata?.annotations !== undefined;
        const patch = hasAnnotations
          ? [{ op: 'add', path: '/metadata/annotations/example.com~1audited', value: 'true' }]
          : [{ op: 'add', path: '/metadata/annotations', value: { 'example.com/audited': 'true' } }];
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => otherMutator?.listen(0, '127.0.0.1', resolve));
    const otherUrl = `https://localhost:${(otherMutator.address() as AddressInfo).port}/audit`;
    const reseal = resealWebhook(webhook.server.url, webhook.certificates.caBundlePem);
    await admission.replaceMutatingWebhookConfiguration({
      name: 'reseal-injector',
      body: {
        metadata: { name: 'reseal-injector', resourceVersion: (await admission.readMutatingWebhookConfiguration({ name: 'reseal-injector' })).metadata?.resourceVersion },
        webhooks: [reseal, { ...reseal, name: 'audit.example.com', clientConfig: { url: otherUrl, caBundle: reseal.clientConfig.caBundle }, reinvocationPolicy: 'Never' }],
      },
    });
    await eventually('the second webhook to be active', async () => {
      const probe = await core.createNamespacedPod({ namespace: MESHED, body: pod('reinvoke-probe'), dryRun: 'All' });
      return probe.metadata?.annotations?.['example.com/audited'] ? true : undefined;
    }, 20_000, 200);

    await core.createNamespacedPod({ namespace: MESHED, body: pod('reinvoked') });
    const stored = await core.readNamespacedPod({ namespace: MESHED, name: 'reinvoked' });
    assertInjectedOnce(stored);
    assert.equal(stored.metadata?.annotations?.['example.com/audited'], 'true');
    const ours = webhook.logs.admissions().filter((l) => l.pod === 'reinvoked');
    assert.deepEqual(
      ours.map((l) => [l.result, l.reason]),
      [
        ['injected', undefined],
        ['skipped', 'already injected'],
      ],
    );
    assert.ok(calls.includes('reinvoked'));
  });
});
