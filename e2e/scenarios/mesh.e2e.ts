// The whole mission on one machine: a client's HTTPS request terminated by nginx (the
// Ingress controller), re-sealed by that pod's sidecar, carried over mTLS to the backend
// pod's sidecar and delivered to the app, with every object going through the real
// kube-apiserver and the real admission webhook. Scenarios share one cluster and run in
// order; certificates live 60 s throughout, so every scenario also runs across rotations.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { readPcapTcp, reassemble, tlsRecordTypes } from '@reseal/test-cluster';
import { edgeRequest, startSteadyLoad, type EdgeTarget } from '../src/harness/edge-client.js';
import { errorMessage } from '../src/harness/deployment-controller.js';
import { REPO_ROOT } from '../src/harness/images.js';
import { eventually, isPodReady, MESH_NAMESPACE, startMeshE2e, type MeshE2e } from '../src/harness/mesh-e2e.js';
import { metricValue } from '../src/harness/prometheus-text.js';
import { deployShop, WORKLOADS_DIR as WORKLOADS } from '../src/harness/shop-workloads.js';

const CERT_TTL_SECONDS = 60;
const INGRESS_ID = 'spiffe://cluster.local/ns/ingress/sa/ingress-nginx';
const logDir = join(REPO_ROOT, 'e2e/.logs', new Date().toISOString().replace(/[:.]/g, '-'));

let mesh: MeshE2e;
// The node's own rules (the pods' rules live and die with their network namespaces).
const hostRules = (): string => ['filter', 'nat', 'mangle'].map((table) => spawnSync('iptables', ['-t', table, '-S'], { encoding: 'utf8' }).stdout).join('');
const hostRulesBefore = hostRules();
let edge: EdgeTarget;
let web: V1Pod;
let ingressPod: V1Pod;

const podName = (pod: V1Pod): string => pod.metadata?.name ?? '';
const podIp = (pod: V1Pod): string => pod.status?.podIP ?? '';

function httpText(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: timed out`)));
    request.on('error', reject);
  });
}

async function sidecarMetrics(pod: V1Pod): Promise<string> {
  const response = await httpText(`http://${podIp(pod)}:15020/metrics`);
  assert.equal(response.status, 200);
  return response.body;
}

/** curl inside a pod's container (its network namespace and UID), like `kubectl exec`. */
async function curlFrom(pod: V1Pod, container: string, url: string, marker: string): Promise<{ ok: boolean; detail: string }> {
  const result = await mesh.runner.exec(pod.metadata?.namespace ?? '', podName(pod), container, ['curl', '-sS', '-m', '5', '-H', `x-e2e-marker: ${marker}`, '-w', '\n%{http_code}', url], {
    timeoutMs: 15_000,
  });
  const code = result.stdout.trim().split('\n').pop();
  return { ok: result.code === 0 && code === '200', detail: `exit ${result.code}, ${result.stdout.trim().slice(-300)} ${result.stderr.trim().slice(-300)}` };
}

/** Asks the web app, on its own loopback, whether a request with this marker reached it. */
async function webAppSaw(marker: string): Promise<boolean> {
  const result = await mesh.runner.exec('shop', podName(web), 'web', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:8080/seen/${encodeURIComponent(marker)}`], { timeoutMs: 10_000 });
  return result.stdout.trim() === '200';
}

async function readyPod(namespace: string, selector: string, timeoutMs = 120_000): Promise<V1Pod> {
  return mesh.waitForPod(namespace, selector, isPodReady, timeoutMs);
}

describe('Reseal end to end', { timeout: 14 * 60_000 }, () => {
  before(async () => {
    mesh = await startMeshE2e({ certTtlSeconds: CERT_TTL_SECONDS, logDir });
    ({ ingressPod, web, edge } = await deployShop(mesh));
  });

  after(async () => {
    await mesh?.stop();
  });

  test('1+2. the edge request reaches the backend app over mTLS, and only TLS records cross the backend pod link', async () => {
    // The webhook really injected both pods.
    for (const pod of [ingressPod, web]) {
      assert.deepEqual((pod.spec?.initContainers ?? []).map((c) => c.name), ['reseal-init', 'reseal-proxy'], `${podName(pod)} injected`);
      assert.equal(pod.metadata?.labels?.['reseal.dev/meshed'], 'true');
    }
    const pcap = join(logDir, 'web-link.pcap');
    const capture: ChildProcess = spawn('tcpdump', ['-i', mesh.runner.hostLink('shop', podName(web)), '--immediate-mode', '-U', '-n', '-s', '0', '-w', pcap, 'tcp'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let tcpdumpErr = '';
    await new Promise<void>((resolve, reject) => {
      capture.stderr?.on('data', (c: Buffer) => {
        tcpdumpErr += c.toString();
        if (tcpdumpErr.includes('listening on')) resolve();
      });
      capture.once('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${tcpdumpErr}`)));
    });
    const markers = Array.from({ length: 5 }, () => `secret-marker-${randomUUID()}`);
    try {
      for (const marker of markers) {
        const response = await edgeRequest(edge, `/hello/${marker}`, { 'x-e2e-marker': marker });
        assert.equal(response.status, 200, response.body);
        const answer = JSON.parse(response.body) as { pod: string; marker: string };
        assert.equal(answer.pod, podName(web), 'the backend app answered');
        assert.equal(answer.marker, marker);
      }
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      capture.kill('SIGINT');
      await new Promise((resolve) => capture.once('exit', resolve));
    }
    for (const marker of markers) assert.ok(await webAppSaw(marker), `the web app saw ${marker}`);

    // The backend sidecar knows who called: the ingress controller's SPIFFE ID, over mTLS.
    const metrics = await sidecarMetrics(web);
    assert.ok(
      metricValue(metrics, 'reseal_proxy_connections_opened_total', { direction: 'inbound', peer_identity: INGRESS_ID, tls: 'mtls' }) > 0,
      `the backend sidecar counts inbound mTLS connections from ${INGRESS_ID}`,
    );
    const proxyLog = readFileSync(mesh.runner.containerLogPath('shop', podName(web), 'reseal-proxy'), 'utf8');
    assert.match(proxyLog, new RegExp(`"client":"${INGRESS_ID.replace(/[/.]/g, '\\$&')}"`), 'the backend sidecar logs the client identity');

    // Scenario 2: nothing but TLS on the backend pod's link.
    const bytes = readFileSync(pcap);
    for (const marker of markers) assert.equal(bytes.indexOf(Buffer.from(marker)), -1, `${marker} never crossed the link in plaintext`);
    const segments = readPcapTcp(bytes);
    const fromIngress = segments.filter((s) => s.src === podIp(ingressPod) && s.dst === podIp(web) && s.dstPort === 8080);
    const toIngress = segments.filter((s) => s.dst === podIp(ingressPod) && s.src === podIp(web) && s.srcPort === 8080);
    const flows = new Set(fromIngress.map((s) => s.srcPort));
    assert.ok(flows.size > 0, 'the capture holds the ingress → web connections');
    for (const port of flows) {
      const up = reassemble(fromIngress.filter((s) => s.srcPort === port));
      const down = reassemble(toIngress.filter((s) => s.dstPort === port));
      const upTypes = tlsRecordTypes(up);
      assert.equal(upTypes[0], 0x16, 'each connection opens with a TLS handshake');
      assert.ok(upTypes.includes(0x17) && tlsRecordTypes(down).includes(0x17), 'requests and answers travel as TLS application data');
    }
    // Every segment with payload to or from the web pod, other than the node's probes to the admin port, belongs to those TLS flows.
    const payloadFlows = segments.filter((s) => s.payload.length > 0 && s.srcPort !== 15020 && s.dstPort !== 15020);
    for (const s of payloadFlows) {
      assert.ok(s.dstPort === 8080 || s.srcPort === 8080, `unexpected plaintext-capable flow ${s.src}:${s.srcPort} → ${s.dst}:${s.dstPort}`);
    }
  });

  test('3. STRICT refuses an unmeshed client pod; PERMISSIVE on the namespace serves it', async () => {
    const plain = await readyPod('outside', 'app=plain-client');
    const strictMarker = `plain-strict-${randomUUID()}`;
    const refused = await curlFrom(plain, 'toolbox', `http://${podIp(web)}:8080/strict`, strictMarker);
    assert.equal(refused.ok, false, `refused under STRICT (${refused.detail})`);
    assert.equal(await webAppSaw(strictMarker), false, 'the app never saw the plaintext request');

    await mesh.kubectl(['annotate', 'namespace', 'shop', 'reseal.dev/mtls-mode=PERMISSIVE', '--overwrite']);
    try {
      const permissiveMarker = `plain-permissive-${randomUUID()}`;
      await eventually('the plaintext client to be served under PERMISSIVE', async () => ((await curlFrom(plain, 'toolbox', `http://${podIp(web)}:8080/permissive`, permissiveMarker)).ok ? true : undefined), 30_000, 500);
      assert.ok(await webAppSaw(permissiveMarker));
    } finally {
      await mesh.kubectl(['annotate', 'namespace', 'shop', 'reseal.dev/mtls-mode-']);
    }
    await eventually('STRICT again', async () => (!(await curlFrom(plain, 'toolbox', `http://${podIp(web)}:8080/strict-again`, `again-${randomUUID()}`)).ok ? true : undefined), 30_000, 500);
  });

  test('4. an AccessPolicy allowing only the ingress refuses a meshed pod of another ServiceAccount', async () => {
    const intruder = await readyPod('shop', 'app=intruder');
    const before = `intruder-before-${randomUUID()}`;
    assert.ok((await curlFrom(intruder, 'toolbox', `http://${podIp(web)}:8080/before`, before)).ok, 'without a policy every meshed identity is allowed');

    await mesh.kubectl(['apply', '-f', join(WORKLOADS, 'web-policy.yaml')]);
    // The policy reaches the web sidecar through discovery: until then the intruder still gets in.
    await eventually('the intruder to be refused', async () => (!(await curlFrom(intruder, 'toolbox', `http://${podIp(web)}:8080/denied`, `intruder-probe-${randomUUID()}`)).ok ? true : undefined), 30_000, 500);
    const denied = `intruder-denied-${randomUUID()}`;
    assert.equal((await curlFrom(intruder, 'toolbox', `http://${podIp(web)}:8080/denied`, denied)).ok, false, 'refused');
    assert.equal(await webAppSaw(denied), false, 'the app never saw the refused request');
    const metrics = await sidecarMetrics(web);
    assert.ok(metricValue(metrics, 'reseal_proxy_policy_denials_total', { peer_identity: 'spiffe://cluster.local/ns/shop/sa/intruder' }) > 0, 'the denial is counted with the caller identity');

    const marker = `ingress-allowed-${randomUUID()}`;
    const response = await edgeRequest(edge, '/allowed', { 'x-e2e-marker': marker });
    assert.equal(response.status, 200, 'the ingress still gets through');
    assert.ok(await webAppSaw(marker));
  });

  test('7. the web app becomes ready under STRICT through its rewritten kubelet probes', async () => {
    const stored = await mesh.core.readNamespacedPod({ namespace: 'shop', name: podName(web) });
    const app = stored.spec?.containers.find((c) => c.name === 'web');
    assert.equal(app?.readinessProbe?.httpGet?.port, 15020, 'readiness goes to the proxy admin port');
    assert.match(app?.readinessProbe?.httpGet?.path ?? '', /^\/app-health\/web\/readiness/);
    assert.equal(app?.livenessProbe?.httpGet?.port, 15020);
    assert.ok(isPodReady(stored), 'Ready');
    const hits = async (): Promise<{ readyz: number; healthz: number }> => {
      const result = await mesh.runner.exec('shop', podName(web), 'web', ['curl', '-s', 'http://127.0.0.1:8080/probe-hits'], { timeoutMs: 10_000 });
      return JSON.parse(result.stdout) as { readyz: number; healthz: number };
    };
    const first = await hits();
    await new Promise((r) => setTimeout(r, 3000));
    const second = await hits();
    assert.ok(second.readyz > first.readyz && second.healthz > first.healthz, `the node's probes reach the app through the proxy (${JSON.stringify(first)} → ${JSON.stringify(second)})`);

    // A failing liveness probe, seen through the same rewrite, gets the app restarted.
    await mesh.runner.exec('shop', podName(web), 'web', ['curl', '-s', '-X', 'POST', 'http://127.0.0.1:8080/fail-liveness'], { timeoutMs: 10_000 });
    web = await mesh.waitForPod('shop', 'app=web', (p) => (p.status?.containerStatuses?.find((c) => c.name === 'web')?.restartCount ?? 0) >= 1 && isPodReady(p), 60_000);
    // Ready again in the API first; then the EndpointSlice and nginx's upstreams follow.
    await eventually('the edge to reach the restarted app', async () => ((await edgeRequest(edge, '/back')).status === 200 ? true : undefined), 30_000, 250);
  });

  test('5. certificates rotating every ~30 s under steady load: zero failed requests over three rotations', async () => {
    const renewals = async (pod: V1Pod): Promise<number> => metricValue(await sidecarMetrics(pod), 'reseal_identity_renewals_total', { result: 'success' });
    const start = { web: await renewals(web), ingress: await renewals(ingressPod) };
    const load = startSteadyLoad(edge, 10, 'rotation');
    let report;
    try {
      await eventually(
        'three rotations of both sidecars',
        async () => ((await renewals(web)) >= start.web + 3 && (await renewals(ingressPod)) >= start.ingress + 3 ? true : undefined),
        3 * CERT_TTL_SECONDS * 1000,
        1000,
      );
    } finally {
      report = await load.stop();
    }
    mesh.log(`rotation load: ${JSON.stringify({ sent: report.sent, succeeded: report.succeeded })}`);
    assert.deepEqual(report.failures, [], `failed requests during rotation (${report.failures.length} of ${report.sent})`);
    assert.ok(report.succeeded > 500, `a real stream (${report.succeeded} requests)`);
  });

  test('6a. the control plane killed and restarted during steady traffic: zero failed requests', async () => {
    const controlPlane = await readyPod(MESH_NAMESPACE, 'app.kubernetes.io/name=reseal-control-plane');
    const load = startSteadyLoad(edge, 10, 'cp-down');
    let report;
    try {
      await new Promise((r) => setTimeout(r, 2000));
      mesh.runner.killContainer(MESH_NAMESPACE, podName(controlPlane), 'control-plane');
      await mesh.waitForPod(MESH_NAMESPACE, 'app.kubernetes.io/name=reseal-control-plane', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && isPodReady(p), 90_000);
      await new Promise((r) => setTimeout(r, 5000));
    } finally {
      report = await load.stop();
    }
    assert.deepEqual(report.failures, [], `failed requests while the control plane was down (${report.failures.length} of ${report.sent})`);
    assert.ok(report.succeeded > 50);
  });

  test('6b. a backend sidecar killed: the runner restarts it and traffic resumes', async () => {
    mesh.runner.killContainer('shop', podName(web), 'reseal-proxy');
    web = await mesh.waitForPod('shop', 'app=web', (p) => (p.status?.initContainerStatuses?.find((c) => c.name === 'reseal-proxy')?.restartCount ?? 0) >= 1 && isPodReady(p), 90_000);
    const marker = `after-sidecar-restart-${randomUUID()}`;
    await eventually('traffic through the restarted sidecar', async () => ((await edgeRequest(edge, '/resumed', { 'x-e2e-marker': marker })).status === 200 ? true : undefined), 60_000, 500);
    assert.ok(await webAppSaw(marker));
  });

  test('6c. the webhook down with failurePolicy Fail: pods in a labelled namespace are refused clearly, others are not', async () => {
    await mesh.kubectl(['-n', MESH_NAMESPACE, 'scale', 'deployment/reseal-injector', '--replicas=0']);
    try {
      await eventually('the injector pods to be gone', async () => ((await mesh.core.listNamespacedPod({ namespace: MESH_NAMESPACE, labelSelector: 'app.kubernetes.io/name=reseal-injector' })).items.length === 0 ? true : undefined), 60_000);
      const pod = (name: string): V1Pod => ({ metadata: { name }, spec: { containers: [{ name: 'toolbox', image: 'reseal-e2e/toolbox:1', securityContext: { runAsUser: 1000 } }] } });
      const refusal = await mesh.core.createNamespacedPod({ namespace: 'shop', body: pod('while-webhook-down') }).then(
        () => undefined,
        (error: unknown) => errorMessage(error),
      );
      assert.ok(refusal, 'the pod is refused');
      assert.match(refusal, /sidecar-injector\.reseal\.dev/, 'the message names the webhook');
      assert.match(refusal, /failed calling webhook|no endpoints available|connection refused/i, `the message says why: ${refusal}`);
      const other = await mesh.core.createNamespacedPod({ namespace: 'outside', body: pod('unaffected') });
      assert.equal(other.metadata?.name, 'unaffected', 'a namespace outside the mesh is unaffected');
      await mesh.core.deleteNamespacedPod({ namespace: 'outside', name: 'unaffected' });
    } finally {
      await mesh.kubectl(['-n', MESH_NAMESPACE, 'scale', 'deployment/reseal-injector', '--replicas=1']);
    }
  });
});

describe('after the run', () => {
  test('no network namespace, bridge, veth, process or host iptables rule is left behind', async () => {
    await mesh?.stop();
    const netns = readdirSync('/run/netns', { withFileTypes: true }).map((d) => d.name).filter((n) => n.startsWith('rse2e'));
    assert.deepEqual(netns, []);
    assert.notEqual(spawnSync('ip', ['link', 'show', 'rse2e0']).status, 0, 'the bridge is gone');
    // The entry points of the images (see src/harness/images.ts) and nginx's work dir.
    const leftovers = spawnSync('pgrep', ['-af', 'e2e/apps/|/bin/reseal-(init|control-plane|injector)\\.js|dist/reseal-proxy\\.mjs|nginx: master'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(leftovers, '', 'no process of the run is left');
    assert.equal(hostRules(), hostRulesBefore, "the node's iptables rules are as they were");
  });
});
