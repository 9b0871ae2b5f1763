import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  AuthenticationV1Api,
  CoreV1Api,
  type V1TokenReviewStatus,
} from '@kubernetes/client-node';
import { binariesIn, startTestCluster, type TestCluster } from '../src/index.js';

const execFileAsync = promisify(execFile);

const AUDIENCE = 'reseal';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

describe('test cluster (etcd + kube-apiserver)', () => {
  let cluster: TestCluster;
  let core: CoreV1Api;
  let authn: AuthenticationV1Api;

  async function requestToken(namespace: string, name: string, audiences: string[]): Promise<string> {
    const tr = await core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: { spec: { audiences, expirationSeconds: 600 } },
    });
    const token = tr.status?.token;
    assert.ok(token, 'TokenRequest returned no token');
    return token;
  }

  async function review(token: string, audiences: string[]): Promise<V1TokenReviewStatus> {
    const res = await authn.createTokenReview({ body: { spec: { token, audiences } } });
    assert.ok(res.status, 'TokenReview returned no status');
    return res.status;
  }

  before(async () => {
    const t0 = performance.now();
    cluster = await startTestCluster();
    console.log(`test cluster started in ${Math.round(performance.now() - t0)} ms at ${cluster.server}`);
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    authn = cluster.kubeConfig.makeApiClient(AuthenticationV1Api);
  });

  after(async () => {
    await cluster?.stop();
  });

  test('serves the API to the admin', async () => {
    const ns = await core.readNamespace({ name: 'default' });
    assert.equal(ns.metadata?.name, 'default');
  });

  test('kubectl works with the written kubeconfig', async () => {
    const kubectl = binariesIn().kubectl;
    if (!existsSync(kubectl)) {
      assert.fail(`${kubectl} missing: run \`npm run build -w @reseal/test-cluster\``);
    }
    const { stdout } = await execFileAsync(kubectl, [
      '--kubeconfig',
      cluster.kubeconfigPath,
      'get',
      'namespaces',
      '-o',
      'name',
    ]);
    assert.match(stdout, /^namespace\/default$/m);
    assert.match(stdout, /^namespace\/kube-system$/m);
  });

  test('service-account tokens from TokenRequest pass TokenReview for their audience only', async () => {
    await core.createNamespace({ body: { metadata: { name: 'shop' } } });
    const sa = await core.createNamespacedServiceAccount({
      namespace: 'shop',
      body: { metadata: { name: 'web' } },
    });
    const token = await requestToken('shop', 'web', [AUDIENCE]);

    const ok = await review(token, [AUDIENCE]);
    assert.equal(ok.error ?? '', '');
    assert.equal(ok.authenticated, true);
    assert.deepEqual(ok.audiences, [AUDIENCE]);
    assert.equal(ok.user?.username, 'system:serviceaccount:shop:web');
    assert.equal(ok.user?.uid, sa.metadata?.uid);
    assert.deepEqual(
      [...(ok.user?.groups ?? [])].sort(),
      ['system:authenticated', 'system:serviceaccounts', 'system:serviceaccounts:shop'],
    );
    // Not bound to a pod or node: the only extra is the token's id (JTI).
    const extra = ok.user?.extra ?? {};
    const allowed = new Set(['authentication.kubernetes.io/credential-id']);
    for (const key of Object.keys(extra)) {
      assert.ok(allowed.has(key), `unexpected extra ${key}=${JSON.stringify(extra[key])}`);
    }
    const credentialId = extra['authentication.kubernetes.io/credential-id'];
    if (credentialId !== undefined) {
      assert.equal(credentialId.length, 1);
      assert.match(credentialId[0] ?? '', /^JTI=[0-9a-f-]{36}$/);
    }

    const other = await review(token, ['other']);
    assert.equal(other.authenticated ?? false, false);
    assert.match(other.error ?? '', /audience/);
    assert.equal(other.user?.username ?? '', '');

    // the token acts as the service account: RBAC denies it (no bindings)
    const asWeb = cluster.kubeConfigForToken(
      await requestToken('shop', 'web', [cluster.serviceAccountIssuer]),
    );
    await assert.rejects(asWeb.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'shop' }), (err: unknown) => {
      assert.equal((err as { code?: number }).code, 403);
      return true;
    });
  });

  test('a token of a deleted service account is rejected', async () => {
    await core.createNamespacedServiceAccount({ namespace: 'shop', body: { metadata: { name: 'gone' } } });
    const token = await requestToken('shop', 'gone', [AUDIENCE]);
    await core.deleteNamespacedServiceAccount({ namespace: 'shop', name: 'gone' });
    // The authenticator looks service accounts up through an informer cache
    // that may lag the delete by a moment, and a review that still succeeded
    // is cached for 10 s (kube-apiserver's token success cache TTL).
    const deadline = Date.now() + 20_000;
    let status = await review(token, [AUDIENCE]);
    while (status.authenticated && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      status = await review(token, [AUDIENCE]);
    }
    assert.equal(status.authenticated ?? false, false, 'token of a deleted service account still authenticates');
    assert.match(status.error ?? '', /not found/);
  });

  test('stop() ends etcd and kube-apiserver and removes the dir', async () => {
    const { etcd, apiServer } = cluster.pids;
    assert.ok(isRunning(etcd) && isRunning(apiServer), 'processes should run before stop()');
    await cluster.stop();
    assert.equal(isRunning(apiServer), false, 'kube-apiserver still running');
    assert.equal(isRunning(etcd), false, 'etcd still running');
    assert.equal(existsSync(cluster.dir), false, 'cluster dir not removed');
    await cluster.stop(); // idempotent
  });
});
