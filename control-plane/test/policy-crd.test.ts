// The AccessPolicy CRD in manifests/crds against a real kube-apiserver: well-formed policies are
// stored, malformed ones are refused by the API server itself (before the control plane sees them).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, loadAllYaml, loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '@reseal/test-cluster';
import { ACCESS_POLICY_GROUP, ACCESS_POLICY_PLURAL, ACCESS_POLICY_VERSION } from '../src/policy/access-policy.js';
import { ALLOWED_IDENTITY_PATTERN, DOT_SEGMENT_PATTERN } from '../src/policy/identity-pattern.js';

const CRD_FILE = fileURLToPath(new URL('../../manifests/crds/accesspolicy.yaml', import.meta.url));
const KUSTOMIZATION = fileURLToPath(new URL('../../manifests/crds/kustomization.yaml', import.meta.url));
let cluster: TestCluster;
let custom: CustomObjectsApi;

async function installCrd(): Promise<void> {
  const api = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(CRD_FILE, 'utf8'));
  await api.createCustomResourceDefinition({ body: crd });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const current = await api.readCustomResourceDefinition({ name: crd.metadata!.name! });
    if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
    if (Date.now() > deadline) throw new Error('CRD not Established');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function create(name: string, spec: unknown): Promise<{ ok: true } | { ok: false; status: number; message: string }> {
  const body = { apiVersion: `${ACCESS_POLICY_GROUP}/${ACCESS_POLICY_VERSION}`, kind: 'AccessPolicy', metadata: { name, namespace: 'shop' }, spec };
  // Right after Established the resource can take a moment to be served.
  for (let attempt = 0; ; attempt++) {
    try {
      await custom.createNamespacedCustomObject({ group: ACCESS_POLICY_GROUP, version: ACCESS_POLICY_VERSION, namespace: 'shop', plural: ACCESS_POLICY_PLURAL, body });
      return { ok: true };
    } catch (error) {
      const status = (error as { code?: number }).code ?? 0;
      if (status === 404 && attempt < 50) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      return { ok: false, status, message: String((error as { body?: unknown }).body ?? error) };
    }
  }
}

before(async () => {
  cluster = await startTestCluster();
  await cluster.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'shop' } } });
  custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  await installCrd();
});

after(async () => {
  await cluster?.stop();
});

test('the CRD schema uses the same identity pattern as the control plane, and the kustomization lists it', () => {
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(CRD_FILE, 'utf8'));
  const items = crd.spec.versions[0]!.schema!.openAPIV3Schema!.properties!['spec']!.properties!['allowedIdentities']!.items as {
    pattern: string;
    'x-kubernetes-validations': { rule: string }[];
  };
  assert.equal(items.pattern, ALLOWED_IDENTITY_PATTERN);
  assert.ok(items['x-kubernetes-validations'][0]!.rule.includes(DOT_SEGMENT_PATTERN));
  const kustomization = loadAllYaml(readFileSync(KUSTOMIZATION, 'utf8'))[0] as { resources: string[] };
  assert.deepEqual(kustomization.resources, ['accesspolicy.yaml']);
});

test('a well-formed AccessPolicy is accepted', async () => {
  const result = await create('web-from-gateway', {
    podSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] },
    ports: [8080, 9090],
    allowedIdentities: ['spiffe://cluster.local/ns/edge/sa/gateway', 'spiffe://cluster.local/ns/ops/*', 'spiffe://cluster.local/ns/shop/sa/worker*'],
  });
  assert.deepEqual(result, { ok: true });
  const everyPort = await create('all-ports', { podSelector: {}, allowedIdentities: ['spiffe://cluster.local/*'] });
  assert.deepEqual(everyPort, { ok: true });
  const stored = (await custom.getNamespacedCustomObject({ group: ACCESS_POLICY_GROUP, version: ACCESS_POLICY_VERSION, namespace: 'shop', plural: ACCESS_POLICY_PLURAL, name: 'web-from-gateway' })) as {
    spec: { ports: number[] };
  };
  assert.deepEqual(stored.spec.ports, [8080, 9090]);
});

test('malformed AccessPolicies are refused by the API server', async () => {
  const valid = { podSelector: {}, allowedIdentities: ['spiffe://cluster.local/ns/edge/sa/gateway'] };
  const cases: [string, unknown][] = [
    ['bare-star', { ...valid, allowedIdentities: ['*'] }],
    ['scheme-only', { ...valid, allowedIdentities: ['spiffe://'] }],
    ['http', { ...valid, allowedIdentities: ['http://cluster.local/ns/a/sa/b'] }],
    ['space', { ...valid, allowedIdentities: ['spiffe://cluster.local/ns/a b/sa/c'] }],
    ['td-wildcard', { ...valid, allowedIdentities: ['spiffe://cluster.local*'] }],
    ['middle-wildcard', { ...valid, allowedIdentities: ['spiffe://cluster.local/ns/*/sa/b'] }],
    ['dot-segment', { ...valid, allowedIdentities: ['spiffe://cluster.local/ns/../sa/b'] }],
    ['empty-ids', { ...valid, allowedIdentities: [] }],
    ['no-ids', { podSelector: {} }],
    ['port-0', { ...valid, ports: [0] }],
    ['port-70000', { ...valid, ports: [70000] }],
    ['port-string', { ...valid, ports: ['http'] }],
    ['no-selector', { allowedIdentities: valid.allowedIdentities }],
    ['bad-operator', { ...valid, podSelector: { matchExpressions: [{ key: 'app', operator: 'Near', values: ['x'] }] } }],
    ['in-without-values', { ...valid, podSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } }],
    ['exists-with-values', { ...valid, podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] } }],
  ];
  for (const [name, spec] of cases) {
    const result = await create(`bad-${name}`, spec);
    assert.equal(result.ok, false, `${name} should be refused`);
    if (!result.ok) assert.equal(result.status, 422, `${name}: ${result.message}`);
  }
  const list = (await custom.listNamespacedCustomObject({ group: ACCESS_POLICY_GROUP, version: ACCESS_POLICY_VERSION, namespace: 'shop', plural: ACCESS_POLICY_PLURAL })) as {
    items: { metadata: { name: string } }[];
  };
  assert.deepEqual(list.items.map((i) => i.metadata.name).sort(), ['all-ports', 'web-from-gateway']);
});
