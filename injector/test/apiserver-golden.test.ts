// Golden test against a real kube-apiserver: every injected fixture, native sidecar and
// fallback alike, must pass the API server's own Pod validation (dry-run create).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '@reseal/test-cluster';
import { applyJsonPatch, injectPod } from '../src/patch/index.js';
import { podFixtures, SKIPPED_FIXTURES, testContext } from './support/fixtures.js';

const NAMESPACE = 'golden';
let cluster: TestCluster;
let core: CoreV1Api;

before(async () => {
  cluster = await startTestCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE, labels: { 'reseal.dev/inject': 'enabled' } } } });
});
after(async () => {
  await cluster?.stop();
});

function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  return typeof body === 'string' ? body : JSON.stringify(body ?? (error as Error).message);
}

for (const { file, pod } of podFixtures()) {
  for (const nativeSidecars of [true, false]) {
    test(`${file} ${nativeSidecars ? '(native sidecar)' : '(fallback)'} is accepted by the API server`, async () => {
      const { patch, skippedReason } = injectPod(pod, testContext({ namespace: NAMESPACE, nativeSidecars }));
      assert.equal(skippedReason !== undefined, SKIPPED_FIXTURES[file] !== undefined);
      const injected = applyJsonPatch(pod, patch) as V1Pod;
      let created: V1Pod;
      try {
        created = await core.createNamespacedPod({ namespace: NAMESPACE, body: injected, dryRun: 'All' });
      } catch (error) {
        assert.fail(`the API server refused the injected ${file}: ${apiMessage(error)}`);
      }
      if (skippedReason) return;
      // The API server kept what was injected (defaulting adds fields, it must not drop ours).
      const names = (list: { name: string }[] | undefined): string[] => (list ?? []).map((c) => c.name);
      assert.deepEqual(names(created.spec?.initContainers), names(injected.spec?.initContainers));
      assert.deepEqual(names(created.spec?.containers), names(injected.spec?.containers));
      const proxy = [...(created.spec?.initContainers ?? []), ...(created.spec?.containers ?? [])].find((c) => c.name === 'reseal-proxy');
      assert.equal(proxy?.restartPolicy, nativeSidecars ? 'Always' : undefined);
      assert.equal(created.metadata?.labels?.['reseal.dev/meshed'], 'true');
    });
  }
}
