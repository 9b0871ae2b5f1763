// The pod runner against a real kube-apiserver: pods become network namespaces with processes,
// volumes, probes and status, and leave nothing behind. Needs root (netns, bridge, mounts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { AuthenticationV1Api, CoreV1Api, DiscoveryV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '@reseal/test-cluster';
import { createNodeNetwork, startPodRunner, type ImageTable, type NodeNetwork, type PodRunner } from '../src/runner/index.js';

const NS = 'rse2e-runner';
const BRIDGE = 'rse2e0';
const GATEWAY = '198.18.20.1';
const AUDIENCE = 'reseal';
const fixture = fileURLToPath(new URL('./fixtures/runner/fixture-app.mjs', import.meta.url));
const images: ImageTable = {
  'reseal-e2e/fixture': { entrypoint: [process.execPath, fixture], env: { IMAGE_ENV: 'from-image' } },
};
const isRoot = process.getuid?.() === 0;

function httpGet(url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function quietly(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
  } catch {
    // it did not exist
  }
}

function fixtureProcesses(): string[] {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(fixture));
}

function status(pod: V1Pod, container: string): NonNullable<V1Pod['status']>['containerStatuses'] extends (infer T)[] | undefined ? T | undefined : never {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find((c) => c.name === container);
}

describe('pod runner', { skip: isRoot ? false : 'needs root (network namespaces, bridge, mounts)' }, () => {
  let cluster: TestCluster | undefined;
  let network: NodeNetwork | undefined;
  let runner: PodRunner | undefined;
  let core: CoreV1Api;
  let logDir: string;

  const leftover = { netns: 'rse2e-999999999-7', link: 'rsv999' };

  before(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'rse2e-runner-logs-'));
    // what a killed run leaves: a netns named for a dead pid, a link whose alias names a dead owner
    execFileSync('ip', ['netns', 'add', leftover.netns]);
    execFileSync('ip', ['link', 'add', leftover.link, 'type', 'veth', 'peer', 'name', `${leftover.link}p`]);
    execFileSync('ip', ['link', 'set', leftover.link, 'alias', 'rse2e-owner=999999999']);
    // the bridge must exist before the API server binds to its address
    network = await createNodeNetwork({ bridge: BRIDGE, gateway: GATEWAY, prefixLength: 24 });
    cluster = await startTestCluster({ bindAddress: GATEWAY });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'app' } } });
    runner = await startPodRunner({
      kubeConfig: cluster.kubeConfig,
      network,
      apiServer: { host: GATEWAY, port: Number(new URL(cluster.server).port) },
      images,
      logDir,
      namespaces: [NS],
      restartBackoff: { initialMs: 300, maxMs: 2000 },
    });
  });

  after(async () => {
    // in this order, each step even if an earlier one failed
    try {
      await runner?.stop();
    } finally {
      try {
        await network?.destroy();
      } finally {
        await cluster?.stop();
        // only there if the node network was never created
        quietly('ip', ['netns', 'del', leftover.netns]);
        quietly('ip', ['link', 'del', leftover.link]);
        if (process.env['RSE2E_KEEP_LOGS'] !== '1') await rm(logDir, { recursive: true, force: true });
        else console.log(`runner logs kept in ${logDir}`);
      }
    }
  });

  const appPod = (): V1Pod => ({
    metadata: { name: 'app', namespace: NS, labels: { app: 'fixture', tier: 'web' } },
    spec: {
      serviceAccountName: 'app',
      terminationGracePeriodSeconds: 5,
      securityContext: { runAsUser: 1000, runAsGroup: 1000 },
      volumes: [
        { name: 'config', configMap: { name: 'app-config' } },
        {
          name: 'identity',
          projected: {
            sources: [
              { serviceAccountToken: { audience: AUDIENCE, expirationSeconds: 600, path: 'token' } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
            ],
          },
        },
        { name: 'podinfo', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } }] } },
      ],
      containers: [
        {
          name: 'app',
          image: 'reseal-e2e/fixture:1',
          args: ['serve', '--port', '8080'],
          ports: [{ name: 'http', containerPort: 8080 }],
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'SA_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
            { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'greeting' } } },
            { name: 'COMPOSED', value: '$(POD_NAME)@$(POD_IP)' },
          ],
          // the startup probe keeps liveness from killing a slow start on a busy machine
          startupProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 60 },
          readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 1, timeoutSeconds: 2 },
          livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, failureThreshold: 3, timeoutSeconds: 2 },
          volumeMounts: [
            { name: 'config', mountPath: '/var/run/app-config' },
            { name: 'identity', mountPath: '/var/run/secrets/reseal' },
            { name: 'podinfo', mountPath: '/tmp/podinfo' },
          ],
        },
      ],
    },
  });

  let appIP = '';

  test('leftovers of a killed run are removed when the node network is created', () => {
    assert.ok(!netnsList().includes(leftover.netns));
    assert.ok(!linkExists(leftover.link));
  });

  test('a pod waits for its ConfigMap, then runs as UID 1000 with env, volumes and a token, and becomes Ready', async () => {
    await core.createNamespacedPod({ namespace: NS, body: appPod() });
    const waiting = await runner!.waitForPod(NS, 'app', (p) => status(p, 'app')?.state?.waiting?.reason === 'ContainerCreating' && (status(p, 'app')?.state?.waiting?.message ?? '').includes('app-config'), 20_000);
    assert.equal(waiting.status?.phase, 'Pending');
    assert.match(status(waiting, 'app')?.state?.waiting?.message ?? '', /configmap "app-config" not found/);

    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'app-config' }, data: { greeting: 'hello', 'settings.json': '{"v":1}' } } });
    const ready = await runner!.waitForPodReady(NS, 'app', 30_000);
    appIP = ready.status?.podIP ?? '';
    assert.match(appIP, /^198\.18\.20\.\d+$/);
    assert.equal(appIP, runner!.podAddress(NS, 'app'));
    assert.deepEqual(ready.status?.podIPs?.map((ip) => ip.ip), [appIP]);
    assert.equal(ready.status?.hostIP, GATEWAY);
    assert.equal(ready.status?.phase, 'Running');
    assert.equal(ready.spec?.nodeName, 'reseal-e2e-node');
    for (const type of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) {
      assert.equal(ready.status?.conditions?.find((c) => c.type === type)?.status, 'True', type);
    }
    const app = status(ready, 'app');
    assert.equal(app?.ready, true);
    assert.equal(app?.started, true);
    assert.ok(app?.state?.running?.startedAt);
    assert.match(app?.containerID ?? '', /^reseal-e2e:\/\//);

    const whoami = JSON.parse((await httpGet(`http://${appIP}:8080/whoami`)).body) as { uid: number; gid: number; hostname: string };
    assert.deepEqual([whoami.uid, whoami.gid, whoami.hostname], [1000, 1000, 'app']);

    const env = JSON.parse((await httpGet(`http://${appIP}:8080/env`)).body) as Record<string, string>;
    assert.equal(env['POD_NAME'], 'app');
    assert.equal(env['POD_IP'], appIP);
    assert.equal(env['SA_NAME'], 'app');
    assert.equal(env['GREETING'], 'hello');
    assert.equal(env['COMPOSED'], `app@${appIP}`);
    assert.equal(env['IMAGE_ENV'], 'from-image');
    assert.equal(env['KUBERNETES_SERVICE_HOST'], GATEWAY);
    assert.equal(env['KUBERNETES_SERVICE_PORT'], new URL(cluster!.server).port);
    assert.equal(env['HOSTNAME'], 'app');

    const file = async (path: string): Promise<string> => {
      const r = await httpGet(`http://${appIP}:8080/file?path=${encodeURIComponent(path)}`);
      assert.equal(r.status, 200, `${path}: ${r.body}`);
      return r.body;
    };
    assert.equal(await file('/var/run/app-config/greeting'), 'hello');
    assert.equal(await file('/var/run/app-config/settings.json'), '{"v":1}');
    assert.equal(await file('/var/run/secrets/reseal/namespace'), NS);
    assert.equal(await file('/tmp/podinfo/labels'), 'app="fixture"\ntier="web"');
    assert.equal(await file('/tmp/podinfo/uid'), ready.metadata?.uid);

    // the token is a real, pod-bound JWT for our audience
    const token = await file('/var/run/secrets/reseal/token');
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud: string[]; sub: string; exp: number; iat: number; 'kubernetes.io': { pod: { name: string; uid: string } } };
    assert.deepEqual(payload.aud, [AUDIENCE]);
    assert.equal(payload.sub, `system:serviceaccount:${NS}:app`);
    assert.equal(payload['kubernetes.io'].pod.uid, ready.metadata?.uid);
    assert.ok(payload.exp - payload.iat >= 600);
    const review = await cluster!.kubeConfig.makeApiClient(AuthenticationV1Api).createTokenReview({ body: { spec: { token, audiences: [AUDIENCE] } } });
    assert.equal(review.status?.authenticated, true, JSON.stringify(review.status));
    assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/pod-name'], ['app']);

    // kubectl exec: same user, same mounts, own /run and /tmp, the pod's /etc/hosts
    const id = await runner!.exec(NS, 'app', 'app', ['id', '-u']);
    assert.deepEqual([id.code, id.stdout.trim()], [0, '1000']);
    const cat = await runner!.exec(NS, 'app', 'app', ['cat', '/var/run/app-config/greeting', '/etc/hosts']);
    assert.equal(cat.code, 0, cat.stderr);
    assert.match(cat.stdout, /^hello/);
    assert.match(cat.stdout, new RegExp(`^${appIP.replace(/\./g, '\\.')}\\tapp$`, 'm'));
    const denied = await runner!.exec(NS, 'app', 'app', ['touch', '/var/run/app-config/x']);
    assert.notEqual(denied.code, 0, 'configMap volumes are read-only');
    const failed = await runner!.exec(NS, 'app', 'app', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual(failed, { code: 3, stdout: 'out\n', stderr: 'err\n' });

    // container mounts stay in the container: the host sees none of them
    const hostMounts = await readFile('/proc/self/mountinfo', 'utf8');
    assert.ok(!hostMounts.includes('/var/tmp/rse2e-'), 'a volume mount leaked to the host');
    assert.ok(!hostMounts.includes('/run/app-config'));

    const log = await readFile(runner!.containerLogPath(NS, 'app', 'app'), 'utf8');
    assert.match(log, /fixture listening on 8080 as uid 1000/);
  });

  test('a ConfigMap update reaches the file through a ..data swap', async () => {
    const before = (await runner!.exec(NS, 'app', 'app', ['readlink', '/var/run/app-config/..data'])).stdout.trim();
    assert.match(before, /^\.\.\d{4}_/);
    assert.equal((await runner!.exec(NS, 'app', 'app', ['readlink', '/var/run/app-config/greeting'])).stdout.trim(), '..data/greeting');
    await core.replaceNamespacedConfigMap({ name: 'app-config', namespace: NS, body: { metadata: { name: 'app-config' }, data: { greeting: 'bonjour', 'settings.json': '{"v":1}' } } });
    await eventually('the new greeting', async () => ((await httpGet(`http://${appIP}:8080/file?path=/var/run/app-config/greeting`)).body === 'bonjour' ? true : undefined));
    const afterSwap = (await runner!.exec(NS, 'app', 'app', ['readlink', '/var/run/app-config/..data'])).stdout.trim();
    assert.notEqual(afterSwap, before);
  });

  test('EndpointSlices become /etc/hosts entries, rewritten in place', async () => {
    const discovery = cluster!.kubeConfig.makeApiClient(DiscoveryV1Api);
    await discovery.createNamespacedEndpointSlice({
      namespace: NS,
      body: {
        metadata: { name: 'fixture-abc', labels: { 'kubernetes.io/service-name': 'fixture' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [appIP], conditions: { ready: true } }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    });
    await eventually('fixture.<ns>.svc in /etc/hosts', async () => {
      const hosts = await runner!.exec(NS, 'app', 'app', ['getent', 'hosts', `fixture.${NS}.svc.cluster.local`]);
      return hosts.code === 0 && hosts.stdout.startsWith(appIP) ? true : undefined;
    });
  });

  test('a killed container is restarted (restartCount 1); a failing liveness probe restarts it too', async () => {
    runner!.killContainer(NS, 'app', 'app');
    const restarted = await runner!.waitForPod(NS, 'app', (p) => status(p, 'app')?.restartCount === 1 && status(p, 'app')?.ready === true, 30_000);
    const app = status(restarted, 'app');
    assert.equal(app?.lastState?.terminated?.exitCode, 137);
    assert.equal(app?.lastState?.terminated?.reason, 'Error');
    assert.ok(app?.state?.running);

    assert.equal((await httpGet(`http://${appIP}:8080/fail-liveness`, 'POST')).status, 200);
    const notReady = await runner!.waitForPod(NS, 'app', (p) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'False', 10_000);
    assert.ok(notReady);
    const relived = await runner!.waitForPod(NS, 'app', (p) => status(p, 'app')?.restartCount === 2 && status(p, 'app')?.ready === true, 30_000);
    // the fixture exits 0 on SIGTERM
    assert.equal(status(relived, 'app')?.lastState?.terminated?.exitCode, 0);
    const log = await readFile(runner!.containerLogPath(NS, 'app', 'app'), 'utf8');
    assert.equal(log.match(/fixture listening/g)?.length, 3, 'the log is appended across restarts');
  });

  test('init containers run in order, a native sidecar starts (startupProbe) before the next one, postStart gates the next container', async () => {
    const record = (name: string): V1Container => ({ name, image: 'reseal-e2e/fixture', args: ['record', '/tmp/shared/order', name], volumeMounts: [{ name: 'shared', mountPath: '/tmp/shared' }] });
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'ordered', namespace: NS },
        spec: {
          terminationGracePeriodSeconds: 2,
          volumes: [{ name: 'shared', emptyDir: {} }],
          initContainers: [
            record('init-a'),
            {
              name: 'sidecar',
              image: 'reseal-e2e/fixture',
              restartPolicy: 'Always',
              args: ['serve', '--port', '9000', '--record', '/tmp/shared/order', 'sidecar', '--ready-after', '1500'],
              startupProbe: { httpGet: { path: '/ready', port: 9000 }, periodSeconds: 1, failureThreshold: 20 },
              volumeMounts: [{ name: 'shared', mountPath: '/tmp/shared' }],
            } as V1Container,
            record('init-b'),
          ],
          containers: [
            {
              name: 'main',
              image: 'reseal-e2e/fixture',
              args: ['serve', '--port', '8080', '--record', '/tmp/shared/order', 'main'],
              lifecycle: { postStart: { exec: { command: ['/bin/sh', '-c', 'sleep 1; echo main-poststart >> /tmp/shared/order'] } } },
              volumeMounts: [{ name: 'shared', mountPath: '/tmp/shared' }],
            },
            { ...record('second'), args: ['serve', '--port', '8081', '--record', '/tmp/shared/order', 'second'] },
          ],
        },
      },
    });
    const ready = await runner!.waitForPodReady(NS, 'ordered', 40_000);
    // Ready does not wait for `second` to have written its line (it has no readiness probe)
    const order = await eventually('all lines in /tmp/shared/order', async () => {
      const lines = (await runner!.exec(NS, 'ordered', 'main', ['cat', '/tmp/shared/order'])).stdout.trim().split('\n');
      return lines.includes('second') ? lines : undefined;
    });
    const at = (name: string): number => {
      const i = order.indexOf(name);
      assert.ok(i >= 0, `${name} missing from ${order.join(',')}`);
      return i;
    };
    assert.ok(at('init-a') < at('sidecar'), order.join(','));
    assert.ok(at('sidecar-ready') < at('init-b'), `init-b ran before the sidecar's startup probe passed: ${order.join(',')}`);
    assert.ok(at('init-b') < at('main'), order.join(','));
    assert.ok(at('main-poststart') < at('second'), `second started before main's postStart returned: ${order.join(',')}`);
    const init = ready.status?.initContainerStatuses ?? [];
    assert.deepEqual(init.map((c) => c.name), ['init-a', 'sidecar', 'init-b']);
    assert.equal(init[0]?.state?.terminated?.reason, 'Completed');
    assert.ok(init[1]?.state?.running, 'the native sidecar keeps running');
    assert.equal(init[1]?.started, true);
    assert.equal(init[2]?.state?.terminated?.exitCode, 0);
  });

  test('run-to-completion pods end Succeeded or Failed; a failing init container fails a restartPolicy Never pod', async () => {
    const once = (name: string, exit: number, init?: number): V1Pod => ({
      metadata: { name, namespace: NS },
      spec: {
        restartPolicy: 'Never',
        ...(init === undefined ? {} : { initContainers: [{ name: 'init', image: 'reseal-e2e/fixture', args: ['record', '/tmp/x', 'init', '--exit', String(init)] }] }),
        containers: [{ name: 'main', image: 'reseal-e2e/fixture', args: ['record', '/tmp/x', 'main', '--exit', String(exit)] }],
      },
    });
    for (const p of [once('done', 0), once('crashed', 3), once('init-fails', 0, 2)]) await core.createNamespacedPod({ namespace: NS, body: p });
    const done = await runner!.waitForPod(NS, 'done', (p) => p.status?.phase === 'Succeeded', 20_000);
    assert.equal(status(done, 'main')?.state?.terminated?.reason, 'Completed');
    assert.equal(done.status?.conditions?.find((c) => c.type === 'Ready')?.reason, 'PodCompleted');
    const crashed = await runner!.waitForPod(NS, 'crashed', (p) => p.status?.phase === 'Failed', 20_000);
    assert.equal(status(crashed, 'main')?.state?.terminated?.exitCode, 3);
    assert.equal(status(crashed, 'main')?.restartCount, 0);
    const initFails = await runner!.waitForPod(NS, 'init-fails', (p) => p.status?.phase === 'Failed', 20_000);
    assert.equal(status(initFails, 'init')?.state?.terminated?.exitCode, 2);
    assert.ok(status(initFails, 'main')?.state?.waiting, 'the app container never started');
    assert.equal(initFails.status?.conditions?.find((c) => c.type === 'Initialized')?.status, 'False');
    for (const name of ['done', 'crashed', 'init-fails']) await core.deleteNamespacedPod({ name, namespace: NS });
    for (const name of ['done', 'crashed', 'init-fails']) await runner!.waitForPodGone(NS, name, 20_000);
  });

  test('pods with unsupported features fail loudly with reason Unsupported', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'unsupported', namespace: NS },
        spec: {
          volumes: [{ name: 'host', hostPath: { path: '/etc' } }],
          containers: [{ name: 'app', image: 'nginx:1.27', volumeMounts: [{ name: 'host', mountPath: '/tmp/host' }] }],
        },
      },
    });
    const failed = await runner!.waitForPod(NS, 'unsupported', (p) => p.status?.phase === 'Failed', 20_000);
    assert.equal(failed.status?.reason, 'Unsupported');
    assert.match(failed.status?.message ?? '', /volumes\[host\]\.hostPath/);
    assert.match(failed.status?.message ?? '', /containers\[app\]\.image\(nginx:1\.27/);
    assert.throws(() => runner!.podAddress(NS, 'unsupported'), /no sandbox/);
    assert.match(await readFile(runner!.logFile, 'utf8'), /pod_unsupported pod=rse2e-runner\/unsupported/);
  });

  test('deleting a pod stops it and removes its netns, veth and object', async () => {
    const netns = runner!.netns(NS, 'app');
    const link = runner!.hostLink(NS, 'app');
    assert.ok(netnsList().includes(netns));
    assert.ok(linkExists(link));
    const started = Date.now();
    await core.deleteNamespacedPod({ name: 'app', namespace: NS });
    await runner!.waitForPodGone(NS, 'app', 20_000);
    assert.ok(Date.now() - started < 10_000, 'the fixture stops on SIGTERM, well within the grace period');
    assert.ok(!netnsList().includes(netns), `${netns} still exists`);
    assert.ok(!linkExists(link), `${link} still exists`);
    const log = await readFile(runner!.containerLogPath(NS, 'app', 'app'), 'utf8');
    assert.match(log, /fixture got SIGTERM/);
  });

  test('stop() leaves no netns, veth or process behind', async () => {
    assert.ok(fixtureProcesses().length > 0, 'the ordered pod should still be running');
    const link = runner!.hostLink(NS, 'ordered');
    await runner!.stop();
    assert.deepEqual(netnsList().filter((n) => n.startsWith('rse2e-')), []);
    assert.ok(!linkExists(link));
    assert.deepEqual(network!.owned(), { netns: [], links: [] });
    assert.deepEqual(fixtureProcesses(), []);
    await network!.destroy();
    assert.ok(!linkExists(BRIDGE));
  });
});
