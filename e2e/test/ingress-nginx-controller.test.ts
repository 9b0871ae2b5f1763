// The controller against a real kube-apiserver (@reseal/test-cluster), authenticated as the
// ingress-nginx ServiceAccount of rbac.yaml (so the RBAC is exercised too), with the real
// nginx on loopback: Ingress + TLS Secret + Service + EndpointSlice through the API → a
// served host with the Secret's certificate → EndpointSlice changes → reloads.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoreV1Api,
  DiscoveryV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  NetworkingV1Api,
  type KubernetesObject,
  type V1EndpointSlice,
} from '@kubernetes/client-node';
import { freePorts, startTestCluster, type TestCluster } from '@reseal/test-cluster';
import type { ControllerConfig } from '../apps/ingress-nginx/config.js';
import { startController, type Controller } from '../apps/ingress-nginx/controller.js';
import { silentLog, type Log } from '../apps/ingress-nginx/log.js';
import { selfSignedCertificate } from '../apps/ingress-nginx/work-dir.js';
import { testWorkerUser } from './support/ingress-worker-user.js';

const RBAC = new URL('../apps/ingress-nginx/rbac.yaml', import.meta.url);

/**
 * EndpointSlices may not hold loopback addresses, so the backends stand in for pods on this
 * host's own non-loopback address: traffic to it still never leaves the host.
 */
function hostAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) return a.address;
  }
  throw new Error('this test needs a non-loopback IPv4 address on the host (EndpointSlices refuse 127.0.0.0/8)');
}

async function startBackend(name: string, address: string): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => response.end(`${name} ${request.url} ${request.headers['x-forwarded-proto']}`));
  server.listen(0, address);
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function curl(args: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '5', '-o', '-', '-w', '\n%{http_code}', ...args], { encoding: 'utf8' }, (_error, stdout) => {
      const at = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) });
    });
  });
}

async function healthz(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
  return response?.status ?? 0;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

describe('ingress-nginx controller against a real API server', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let workDir: string;
  let controller: Controller | undefined;
  let config: ControllerConfig;
  let backend1: { server: Server; port: number };
  let backend2: { server: Server; port: number };
  const events: Record<string, unknown>[] = [];
  const log: Log = {
    ...silentLog,
    info: (fields) => events.push(fields),
    warn: (fields) => events.push(fields),
    error: (fields) => events.push(fields),
  };
  let certFile: string;
  let discovery: DiscoveryV1Api;
  let podIp: string;

  const shop = (path: string) => ['--cacert', certFile, '--resolve', `shop.example:${config.httpsPort}:127.0.0.1`, `https://shop.example:${config.httpsPort}${path}`];
  const slice = (port: number, ready: boolean): V1EndpointSlice => ({
    metadata: { name: 'web-abcde', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: [{ addresses: [podIp], conditions: { ready } }],
  });

  before(async () => {
    cluster = await startTestCluster();
    workDir = await mkdtemp(join(tmpdir(), 'ingress-nginx-controller-'));
    podIp = hostAddress();
    backend1 = await startBackend('backend-1', podIp);
    backend2 = await startBackend('backend-2', podIp);

    const admin = cluster.kubeConfig;
    const objects = KubernetesObjectApi.makeApiClient(admin);
    const core = admin.makeApiClient(CoreV1Api);
    discovery = admin.makeApiClient(DiscoveryV1Api);
    for (const name of ['ingress', 'shop']) await core.createNamespace({ body: { metadata: { name } } });
    for (const object of loadAllYaml(await readFile(RBAC, 'utf8')) as KubernetesObject[]) await objects.create(object);
    const token = await core.createNamespacedServiceAccountToken({
      name: 'ingress-nginx',
      namespace: 'ingress',
      body: { spec: { audiences: [cluster.serviceAccountIssuer], expirationSeconds: 3600 } },
    });

    const files = { cert: join(workDir, 'shop.crt'), key: join(workDir, 'shop.key') };
    await selfSignedCertificate(files, 'shop.example', ['shop.example']);
    certFile = files.cert;
    await core.createNamespacedSecret({
      namespace: 'shop',
      body: {
        metadata: { name: 'shop-tls' },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': (await readFile(files.cert)).toString('base64'), 'tls.key': (await readFile(files.key)).toString('base64') },
      },
    });
    await core.createNamespacedService({
      namespace: 'shop',
      body: { metadata: { name: 'web' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    });
    await discovery.createNamespacedEndpointSlice({ namespace: 'shop', body: slice(backend1.port, true) });
    await admin.makeApiClient(NetworkingV1Api).createNamespacedIngress({
      namespace: 'shop',
      body: {
        metadata: { name: 'web' },
        spec: {
          ingressClassName: 'nginx',
          tls: [{ hosts: ['shop.example'], secretName: 'shop-tls' }],
          rules: [{ host: 'shop.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }] } }],
        },
      },
    });

    const workerUser = testWorkerUser();
    const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
    config = {
      ingressClass: 'nginx',
      workDir: join(workDir, 'nginx'),
      nginxBinary: '/usr/sbin/nginx',
      httpPort,
      httpsPort,
      statusPort: 0,
      listenAddress: '127.0.0.1',
      podIp: '10.244.0.42',
      workerUser: 'nobody',
      workerGroup: 'nogroup',
      meshProxyUid: 1337,
      reloadDebounceMs: 100,
    };
    controller = await startController({
      kubeConfig: cluster.kubeConfigForToken(token.status?.token ?? assert.fail('no token'), 'system:serviceaccount:ingress:ingress-nginx'),
      config,
      log,
      ...(workerUser ? { workerUser } : {}),
      onFatal: (error) => events.push({ event: 'fatal', err: error.message }),
      onAccessLog: () => {},
    });
  });

  after(async () => {
    await controller?.stop();
    backend1?.server.close();
    backend2?.server.close();
    await cluster?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('is not ready until it has synced and started nginx, then is', async () => {
    assert.equal(await healthz(controller!.statusPort), 503);
    await until('/healthz 200', async () => (await healthz(controller!.statusPort)) === 200);
    assert.equal(controller!.notReadyReason(), undefined);
    assert.ok(!events.some((e) => e['event'] === 'watch_failed'), JSON.stringify(events.filter((e) => e['event'] === 'watch_failed')));
  });

  it('serves the Ingress host with its Secret\'s certificate and proxies to the EndpointSlice address', async () => {
    const response = await curl(shop('/x'));
    assert.equal(response.status, 200);
    assert.equal(response.body, 'backend-1 /x https');
    assert.match(controller!.liveConfig()!, new RegExp(`server ${podIp.replaceAll('.', '\\.')}:${backend1.port} max_fails=0;`));
    // nothing serves an unknown host
    const unknown = await curl(['-k', '--resolve', `x.example:${config.httpsPort}:127.0.0.1`, `https://x.example:${config.httpsPort}/`]);
    assert.equal(unknown.status, 404);
  });

  it('writes the pod IP into the Ingress status', async () => {
    const networking = cluster.kubeConfig.makeApiClient(NetworkingV1Api);
    await until('ingress status', async () => {
      const ingress = await networking.readNamespacedIngress({ name: 'web', namespace: 'shop' });
      return ingress.status?.loadBalancer?.ingress?.[0]?.ip === '10.244.0.42';
    });
  });

  it('reloads when the EndpointSlice changes: a new port, then no ready endpoint (503)', async () => {
    const applied = controller!.applied();
    await discovery.replaceNamespacedEndpointSlice({ name: 'web-abcde', namespace: 'shop', body: slice(backend2.port, true) });
    await until('backend-2 answers', async () => (await curl(shop('/y'))).body === 'backend-2 /y https');
    assert.equal(controller!.applied(), applied + 1);
    assert.ok(events.some((e) => e['event'] === 'nginx_reloaded'));

    await discovery.replaceNamespacedEndpointSlice({ name: 'web-abcde', namespace: 'shop', body: slice(backend2.port, false) });
    await until('503 without ready endpoints', async () => (await curl(shop('/y'))).status === 503);
    assert.ok(events.some((e) => e['event'] === 'ingress_degraded' && /no ready endpoints/.test(String(e['reason']))));
  });

  it('stops nginx with itself', async () => {
    const pid = Number(await readFile(join(config.workDir, 'nginx.pid'), 'utf8'));
    await controller!.stop();
    controller = undefined;
    assert.throws(() => process.kill(pid, 0));
    const refused = await new Promise((resolve) => {
      const socket = connect(config.httpsPort, '127.0.0.1');
      socket.once('connect', () => resolve(socket.destroy() && false));
      socket.once('error', () => resolve(true));
    });
    assert.equal(refused, true);
    assert.ok(!events.some((e) => e['event'] === 'fatal'));
  });
});
