// The install manifests (`kubectl apply -k manifests/`) against a real kube-apiserver + etcd:
// rendered properties, server dry-run, a real apply, the Pod Security level of the pods,
// and the control plane running with exactly the RBAC the manifests grant it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { AdmissionregistrationV1Api, CoordinationV1Api, CoreV1Api, type V1Deployment, type V1PolicyRule } from '@kubernetes/client-node';
import { eventually as eventuallyWithin, startTestCluster, type TestCluster } from '@reseal/test-cluster';
import { pino } from 'pino';
import { parseConfig } from '../src/config.js';
import { startControlPlane, type RunningControlPlane } from '../src/control-plane.js';
import { TRUST_BUNDLE_CONFIGMAP, TRUST_BUNDLE_KEY } from '../src/trust-bundle/trust-bundle-publisher.js';
import { TestIdentityClient } from './support/identity-client.js';

// A whole control plane starting under its own RBAC takes longer than the other tests wait.
const eventually = <T,>(what: string, fn: () => Promise<T | undefined> | T | undefined): Promise<T> => eventuallyWithin(what, fn, 20_000, 200);

const MANIFESTS = fileURLToPath(new URL('../../manifests', import.meta.url));
const KUBECTL = fileURLToPath(new URL('../../e2e/cluster/.bin/kubectl', import.meta.url));
const NAMESPACE = 'reseal-system';
const CONTROL_PLANE_SA = `system:serviceaccount:${NAMESPACE}:reseal-control-plane`;
const INJECTOR_SA = `system:serviceaccount:${NAMESPACE}:reseal-injector`;

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  [key: string]: unknown;
}

let cluster: TestCluster;
let objects: KubeObject[];
let controlPlane: RunningControlPlane | undefined;

async function kubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(KUBECTL, ['--kubeconfig', cluster.kubeconfigPath, ...args], { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function find<T = KubeObject>(kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind} ${name} is in the manifests`);
  return found as unknown as T;
}

before(async () => {
  cluster = await startTestCluster();
  // Client-side rendering, as JSON: the objects exactly as kustomize produces them.
  const rendered = await kubectl(['create', '-k', MANIFESTS, '--dry-run=client', '-o', 'json']);
  assert.equal(rendered.code, 0, rendered.stderr);
  // One pretty-printed JSON document per object, each starting with "{" on a line of its own.
  objects = rendered.stdout
    .split(/\n(?=\{)/)
    .filter((doc) => doc.trim())
    .map((doc) => JSON.parse(doc) as KubeObject);
});

after(async () => {
  await controlPlane?.stop();
  await cluster?.stop();
});

test('the kustomization renders every piece of the install', async () => {
  const rendered = await kubectl(['kustomize', MANIFESTS]);
  assert.equal(rendered.code, 0, rendered.stderr);
  const names = objects.map((o) => `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`).sort();
  assert.deepEqual(names, [
    'ClusterRole/reseal-control-plane',
    'ClusterRoleBinding/reseal-control-plane',
    'CustomResourceDefinition/accesspolicies.reseal.dev',
    'Deployment/reseal-system/reseal-control-plane',
    'Deployment/reseal-system/reseal-injector',
    'MutatingWebhookConfiguration/reseal-injector',
    'Namespace/reseal-system',
    'PodDisruptionBudget/reseal-system/reseal-control-plane',
    'PodDisruptionBudget/reseal-system/reseal-injector',
    'Role/reseal-system/reseal-control-plane',
    'RoleBinding/reseal-system/reseal-control-plane',
    'Service/reseal-system/reseal-control-plane',
    'Service/reseal-system/reseal-injector',
    'ServiceAccount/reseal-system/reseal-control-plane',
    'ServiceAccount/reseal-system/reseal-injector',
  ]);
  for (const o of objects) assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'reseal', `${o.kind} ${o.metadata.name} is labelled`);
});

test('Deployments: 2 replicas, spread, probed on the admin port, non-root, read-only, seccomp, with resources and a PDB', () => {
  for (const [name, image, sa] of [
    ['reseal-control-plane', 'ghcr.io/reseal/control-plane:0.1.0', 'reseal-control-plane'],
    ['reseal-injector', 'ghcr.io/reseal/injector:0.1.0', 'reseal-injector'],
  ] as const) {
    const deployment = find<V1Deployment>('Deployment', name);
    const spec = deployment.spec!;
    const pod = spec.template.spec!;
    assert.equal(spec.replicas, 2, name);
    assert.equal(spec.strategy?.rollingUpdate?.maxUnavailable, 0, `${name} keeps both replicas during a rollout`);
    const selector = spec.selector.matchLabels!;
    for (const [k, v] of Object.entries(selector)) assert.equal(spec.template.metadata?.labels?.[k], v, `${name} selector matches its pods`);
    assert.equal(pod.serviceAccountName, sa);
    const antiAffinity = pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm;
    assert.equal(antiAffinity?.topologyKey, 'kubernetes.io/hostname');
    assert.deepEqual(antiAffinity?.labelSelector?.matchLabels, selector);
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(pod.securityContext?.runAsUser, 65532);
    assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(pod.containers.length, 1);
    const container = pod.containers[0]!;
    assert.equal(container.image, image);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext?.capabilities?.drop, ['ALL']);
    assert.ok(container.resources?.requests?.['cpu'] && container.resources.requests['memory'] && container.resources.limits?.['memory'], `${name} has resources`);
    const adminPort = container.ports?.find((p) => p.name === 'http-admin');
    assert.equal(adminPort?.containerPort, 15014);
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) assert.equal(probe?.httpGet?.port, 'http-admin');
    assert.equal(container.readinessProbe?.httpGet?.path, '/ready');
    assert.equal(container.livenessProbe?.httpGet?.path, '/live');
    assert.ok(container.volumeMounts?.some((m) => m.mountPath === '/tmp'), `${name} has a writable /tmp`);
    assert.equal(spec.template.metadata?.labels?.['reseal.dev/inject'], 'disabled');

    const pdb = find<{ spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget', name);
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, selector);
  }
  const injector = find<V1Deployment>('Deployment', 'reseal-injector').spec!.template.spec!;
  assert.equal(injector.automountServiceAccountToken, false, 'the injector needs no API token');
  assert.equal(injector.containers[0]!.ports?.find((p) => p.name === 'https-webhook')?.containerPort, 15017);
  assert.equal(injector.volumes?.find((v) => v.name === 'webhook-tls')?.secret?.secretName, 'reseal-injector-tls');
  const env = Object.fromEntries((injector.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
  assert.equal(env['RESEAL_WEBHOOK_PORT'], '15017');
  assert.match(env['RESEAL_PROXY_IMAGE'] ?? '', /^ghcr\.io\/reseal\/sidecar:0\.1\.0$/);
  const controlPlaneEnv = find<V1Deployment>('Deployment', 'reseal-control-plane').spec!.template.spec!.containers[0]!.env ?? [];
  assert.equal(controlPlaneEnv.find((e) => e.name === 'RESEAL_POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
});

test('Services: the control plane on 15012 (grpc) and 15014 (metrics); the injector on 443 → 15017', () => {
  const cp = find<{ spec: { ports: { name: string; port: number; targetPort: string }[] } }>('Service', 'reseal-control-plane');
  assert.deepEqual(cp.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [['grpc', 15012, 'grpc'], ['http-metrics', 15014, 'http-admin']]);
  const injector = find<{ spec: { ports: { name: string; port: number; targetPort: string }[] } }>('Service', 'reseal-injector');
  assert.deepEqual(injector.spec.ports[0], { name: 'https-webhook', port: 443, targetPort: 'https-webhook', protocol: 'TCP', appProtocol: 'https' });
});

test('the webhook fails closed, times out in 10 s, has no side effects and leaves caBundle to the control plane', () => {
  const configuration = find<{ webhooks: Record<string, unknown>[] }>('MutatingWebhookConfiguration', 'reseal-injector');
  assert.equal(configuration.webhooks.length, 1);
  const webhook = configuration.webhooks[0]! as {
    clientConfig: { service: object; caBundle?: string; url?: string };
    failurePolicy: string;
    timeoutSeconds: number;
    sideEffects: string;
    admissionReviewVersions: string[];
    reinvocationPolicy: string;
    namespaceSelector: { matchLabels: Record<string, string>; matchExpressions: object[] };
    objectSelector: { matchExpressions: object[] };
    rules: object[];
  };
  assert.equal(webhook.failurePolicy, 'Fail');
  assert.equal(webhook.timeoutSeconds, 10);
  assert.equal(webhook.sideEffects, 'None');
  assert.deepEqual(webhook.admissionReviewVersions, ['v1']);
  assert.equal(webhook.reinvocationPolicy, 'IfNeeded');
  assert.deepEqual(webhook.clientConfig.service, { namespace: NAMESPACE, name: 'reseal-injector', path: '/mutate', port: 443 });
  assert.equal(webhook.clientConfig.caBundle, undefined, 'absent, so a re-apply never wipes what the control plane patched');
  assert.deepEqual(webhook.namespaceSelector.matchLabels, { 'reseal.dev/inject': 'enabled' });
  assert.deepEqual(webhook.namespaceSelector.matchExpressions, [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['reseal-system', 'kube-system'] }]);
  assert.deepEqual(webhook.objectSelector.matchExpressions, [{ key: 'reseal.dev/inject', operator: 'NotIn', values: ['disabled'] }]);
  assert.deepEqual(webhook.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
});

test('RBAC: no wildcards, no escalation verbs, Secrets only by name in reseal-system, nothing for the injector', () => {
  const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role') as (KubeObject & { rules: V1PolicyRule[] })[];
  assert.equal(roles.length, 2);
  for (const role of roles) {
    for (const rule of role.rules) {
      const where = `${role.kind} ${role.metadata.name}: ${JSON.stringify(rule)}`;
      for (const list of [rule.verbs, rule.resources ?? [], rule.apiGroups ?? [], rule.resourceNames ?? []]) assert.ok(!list.includes('*'), `no wildcard in ${where}`);
      assert.ok(!rule.nonResourceURLs, where);
      for (const verb of ['escalate', 'bind', 'impersonate', 'delete', 'deletecollection']) assert.ok(!rule.verbs.includes(verb), `no ${verb} in ${where}`);
      if (rule.resources?.includes('secrets')) {
        assert.equal(role.kind, 'Role', `Secrets only in the namespaced Role: ${where}`);
        assert.ok(!rule.verbs.includes('list') && !rule.verbs.includes('watch'), `no Secret list/watch: ${where}`);
      }
      // Every verb that can be limited by name is; create is the exception the API imposes.
      const nameable = rule.verbs.filter((v) => ['get', 'update', 'patch'].includes(v));
      const writesOrReadsOneObject = ['secrets', 'configmaps', 'leases', 'mutatingwebhookconfigurations'].some((r) => rule.resources?.includes(r));
      if (writesOrReadsOneObject && nameable.length > 0) assert.ok((rule.resourceNames ?? []).length > 0, `name-restricted: ${where}`);
      if (rule.verbs.includes('create') && rule.resources?.some((r) => r !== 'tokenreviews')) assert.deepEqual(rule.verbs, ['create'], `create stands alone: ${where}`);
    }
  }
  const role = find<{ rules: V1PolicyRule[] }>('Role', 'reseal-control-plane');
  assert.deepEqual(role.rules.filter((r) => r.resources?.includes('secrets')).flatMap((r) => r.resourceNames ?? []).sort(), ['reseal-ca', 'reseal-injector-tls']);
  assert.equal(find<{ metadata: { namespace: string } }>('Role', 'reseal-control-plane').metadata.namespace, NAMESPACE);
  const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') as (KubeObject & { subjects: { name: string }[] })[];
  assert.ok(bindings.every((b) => b.subjects.every((s) => s.name === 'reseal-control-plane')), 'nothing is bound to the injector');
  assert.equal(find<{ automountServiceAccountToken?: boolean }>('ServiceAccount', 'reseal-injector').automountServiceAccountToken, false);
});

test('kubectl apply -k --dry-run=server: accepted once the namespace exists, and nothing is stored', async () => {
  // A server dry run stores nothing, so on an empty cluster the objects inside reseal-system
  // are refused for want of the namespace (kubectl cannot dry-run "create the namespace and
  // then its contents"); everything else must pass already.
  const fresh = await kubectl(['apply', '-k', MANIFESTS, '--dry-run=server']);
  const errors = fresh.stderr.split('\n').filter(Boolean);
  assert.ok(errors.every((line) => /namespaces "reseal-system" not found/.test(line)), fresh.stderr);
  for (const kind of ['namespace/reseal-system', 'customresourcedefinition.apiextensions.k8s.io/accesspolicies.reseal.dev', 'clusterrole.rbac.authorization.k8s.io/reseal-control-plane', 'mutatingwebhookconfiguration.admissionregistration.k8s.io/reseal-injector']) {
    assert.match(fresh.stdout, new RegExp(`${kind.replace(/\./g, '\\.')} created \\(server dry run\\)`));
  }
  assert.notEqual((await kubectl(['get', 'namespace', NAMESPACE])).code, 0, 'the dry run stored nothing');

  const namespace = await kubectl(['apply', '-f', `${MANIFESTS}/namespace.yaml`]);
  assert.equal(namespace.code, 0, namespace.stderr);
  const dryRun = await kubectl(['apply', '-k', MANIFESTS, '--dry-run=server']);
  assert.equal(dryRun.code, 0, dryRun.stderr);
  assert.equal(dryRun.stderr.trim(), '', 'no warnings');
  const lines = dryRun.stdout.trim().split('\n');
  assert.equal(lines.length, objects.length);
  assert.ok(lines.every((line) => / (created|unchanged|configured) \(server dry run\)$/.test(line)), dryRun.stdout);
  assert.notEqual((await kubectl(['get', 'deployment', '-n', NAMESPACE, 'reseal-control-plane'])).code, 0, 'the dry run stored nothing');
});

test('kubectl apply -k: every object is accepted and stored; applying again changes nothing', async () => {
  const applied = await kubectl(['apply', '-k', MANIFESTS]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.equal(applied.stderr.trim(), '', 'no warnings');
  const versions = async (): Promise<Map<string, string>> => {
    const map = new Map<string, string>();
    for (const o of objects) {
      const ref = `${o.kind.toLowerCase()}.${o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''}`.replace(/\.$/, '');
      const got = await kubectl(['get', ref, o.metadata.name, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : []), '-o', 'jsonpath={.metadata.resourceVersion}']);
      assert.equal(got.code, 0, `${o.kind} ${o.metadata.name} is stored: ${got.stderr}`);
      map.set(`${o.kind}/${o.metadata.name}`, got.stdout);
    }
    return map;
  };
  const first = await versions();
  assert.equal(first.size, objects.length);
  const again = await kubectl(['apply', '-k', MANIFESTS]);
  assert.equal(again.code, 0, again.stderr);
  // kubectl reports PodDisruptionBudgets as "configured" every time (its selector's patch
  // strategy is replace, so the computed patch is never empty), but nothing is written.
  assert.deepEqual(await versions(), first);
});

test('the pods of both Deployments pass the restricted Pod Security level enforced on reseal-system', async () => {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  for (const name of ['reseal-control-plane', 'reseal-injector']) {
    const template = find<V1Deployment>('Deployment', name).spec!.template;
    // Server-side dry run of the pod the ReplicaSet would create: admission (PodSecurity) runs.
    await core.createNamespacedPod({ namespace: NAMESPACE, dryRun: 'All', body: { metadata: { generateName: `${name}-`, labels: template.metadata?.labels }, spec: template.spec! } });
  }
  await assert.rejects(
    core.createNamespacedPod({ namespace: NAMESPACE, dryRun: 'All', body: { metadata: { name: 'root' }, spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { runAsUser: 0 } }] } } }),
    /violates PodSecurity.*restricted/,
    'the namespace really enforces restricted',
  );
});

test('the control plane runs with exactly the permissions the manifests grant', { timeout: 120_000 }, async () => {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'shop', labels: { 'reseal.dev/inject': 'enabled' } } } });
  await core.createNamespacedServiceAccount({ namespace: 'shop', body: { metadata: { name: 'web' } } });
  const token = (await core.createNamespacedServiceAccountToken({ name: 'reseal-control-plane', namespace: NAMESPACE, body: { spec: { expirationSeconds: 3600 } } })).status!.token!;
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, {
    write(line: string) {
      lines.push(line);
      if (process.env['RESEAL_TEST_LOG']) process.stderr.write(line);
    },
  });
  controlPlane = await startControlPlane(parseConfig({ RESEAL_LISTEN_HOST: '127.0.0.1', RESEAL_IDENTITY_PORT: '0', RESEAL_ADMIN_PORT: '0', RESEAL_POD_NAME: 'reseal-control-plane-0' }), {
    logger,
    kubeConfig: cluster.kubeConfigForToken(token, CONTROL_PLANE_SA),
    caPollIntervalMs: 500,
    trustBundleResyncMs: 1000,
    webhookResyncMs: 500,
    leaderElection: { leaseDurationSeconds: 4, renewIntervalMs: 1000, renewDeadlineMs: 3000, retryIntervalMs: 250 },
  });
  const running = controlPlane;
  const bundle = running.ca().trustBundlePem;
  // CA Secret created (secrets create) and re-read (get reseal-ca).
  const caSecret = await core.readNamespacedSecret({ name: 'reseal-ca', namespace: NAMESPACE });
  assert.equal(Buffer.from(caSecret.data!['ca.crt']!, 'base64').toString(), bundle);
  // Leader election (leases create/get/update).
  const lease = await eventually('the Lease', async () => {
    const current = await cluster.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'reseal-control-plane', namespace: NAMESPACE });
    return current.spec?.holderIdentity === running.leadership()?.identity ? current : undefined;
  });
  assert.match(lease.spec!.holderIdentity!, /^reseal-control-plane-0_/);
  // The webhook's TLS (secrets create/get/update reseal-injector-tls; MWC get/patch).
  const admission = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  await eventually('caBundle patched', async () => {
    const configuration = await admission.readMutatingWebhookConfiguration({ name: 'reseal-injector' });
    return configuration.webhooks?.[0]?.clientConfig.caBundle === Buffer.from(bundle).toString('base64') || undefined;
  });
  const servingSecret = await eventually('the injector Secret', () => core.readNamespacedSecret({ name: 'reseal-injector-tls', namespace: NAMESPACE }));
  assert.equal(servingSecret.type, 'kubernetes.io/tls');
  // Trust bundle (namespaces list/watch, configmaps create/get/update).
  await eventually('the trust bundle in shop', async () => (await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: 'shop' })).data?.[TRUST_BUNDLE_KEY] === bundle || undefined);
  // Discovery (list/watch of pods, services, endpointslices, namespaces, accesspolicies).
  await eventually('discovery ready', async () => ((await fetch(`http://127.0.0.1:${running.adminPort}/ready`)).ok ? true : undefined));
  // Identity (tokenreviews create).
  const workloadToken = (await core.createNamespacedServiceAccountToken({ name: 'web', namespace: 'shop', body: { spec: { audiences: ['reseal'], expirationSeconds: 600 } } })).status!.token!;
  const { response } = await new TestIdentityClient(running.identityPort, bundle).certify('spiffe://cluster.local/ns/shop/sa/web', { token: workloadToken });
  assert.equal(response.spiffeId, 'spiffe://cluster.local/ns/shop/sa/web');

  const denied = lines.filter((line) => /forbidden|HTTP-Code: 403|"code":403/i.test(line));
  assert.deepEqual(denied, [], 'no request of the control plane was refused');

  // kubectl apply again: the patched caBundle stays (the manifest does not set it).
  const reapplied = await kubectl(['apply', '-k', MANIFESTS]);
  assert.equal(reapplied.code, 0, reapplied.stderr);
  const configuration = await admission.readMutatingWebhookConfiguration({ name: 'reseal-injector' });
  assert.equal(configuration.webhooks?.[0]?.clientConfig.caBundle, Buffer.from(bundle).toString('base64'));
});

test('and no more: what the ServiceAccounts cannot do', async () => {
  const can = async (as: string, ...args: string[]): Promise<boolean> => {
    const result = await kubectl(['auth', 'can-i', `--as=${as}`, ...args]);
    assert.ok(result.stdout.trim() === 'yes' || result.stdout.trim() === 'no', result.stderr);
    return result.stdout.trim() === 'yes';
  };
  const cp = CONTROL_PLANE_SA;
  // What it needs…
  assert.equal(await can(cp, 'get', 'secret/reseal-ca', '-n', NAMESPACE), true);
  assert.equal(await can(cp, 'update', 'lease/reseal-control-plane', '-n', NAMESPACE), true);
  assert.equal(await can(cp, 'patch', 'mutatingwebhookconfiguration/reseal-injector'), true);
  assert.equal(await can(cp, 'update', 'configmap/reseal-trust-bundle', '-n', 'shop'), true);
  // …and nothing beside it.
  assert.equal(await can(cp, 'list', 'secrets', '-n', NAMESPACE), false);
  assert.equal(await can(cp, 'watch', 'secrets', '-n', NAMESPACE), false);
  assert.equal(await can(cp, 'get', 'secret/other', '-n', NAMESPACE), false);
  assert.equal(await can(cp, 'get', 'secret/reseal-ca', '-n', 'shop'), false);
  assert.equal(await can(cp, 'create', 'secrets', '-n', 'shop'), false);
  assert.equal(await can(cp, 'list', 'secrets', '--all-namespaces'), false);
  assert.equal(await can(cp, 'get', 'configmap/other', '-n', 'shop'), false);
  assert.equal(await can(cp, 'delete', 'configmap/reseal-trust-bundle', '-n', 'shop'), false);
  assert.equal(await can(cp, 'patch', 'mutatingwebhookconfiguration/other'), false);
  assert.equal(await can(cp, 'create', 'mutatingwebhookconfigurations'), false);
  assert.equal(await can(cp, 'update', 'lease/other', '-n', NAMESPACE), false);
  assert.equal(await can(cp, 'create', 'pods', '-n', 'shop'), false);
  assert.equal(await can(cp, 'create', 'serviceaccounts/token', '-n', 'shop'), false);
  assert.equal(await can(INJECTOR_SA, 'list', 'namespaces'), false);
  assert.equal(await can(INJECTOR_SA, 'get', 'secret/reseal-injector-tls', '-n', NAMESPACE), false);
  assert.equal(await can(INJECTOR_SA, 'create', 'pods', '-n', 'shop'), false);
});
