// The dashboards are only as good as the metrics behind them. A running mesh, traffic that
// makes every metric exist (edge requests and 5xx through nginx, a policy denial, plaintext
// under PERMISSIVE and refused under STRICT, a failed mTLS handshake, an unreachable app port,
// a refused certificate request, certificate renewals), a real Prometheus scraping the pods
// with the scrape jobs of manifests/dashboards/prometheus-scrape.yaml; then every PromQL
// expression of every panel of every dashboard must return data, and read only metrics the
// components really expose.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { connect as http2Connect } from 'node:http2';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { edgeRequest, type EdgeTarget } from '../src/harness/edge-client.js';
import { REPO_ROOT } from '../src/harness/images.js';
import { eventually, isPodReady, MESH_NAMESPACE, startMeshE2e, type MeshE2e } from '../src/harness/mesh-e2e.js';
import { metricValue } from '../src/harness/prometheus-text.js';
import { deployShop, WORKLOADS_DIR as WORKLOADS } from '../src/harness/shop-workloads.js';
import { loadDashboards, metricNames, substituteVariables, variableAsQuery, type TemplateValues } from '../src/observability/dashboard-queries.js';
import { startPodDiscovery, type PodDiscoveryServer } from '../src/observability/pod-discovery.js';
import { startPrometheus, type PrometheusServer, type PromTarget } from '../src/observability/prometheus-server.js';
import { DASHBOARDS_DIR, hasKubernetesDiscovery, renderPrometheusConfig, type Discovery } from '../src/observability/scrape-config.js';

const CERT_TTL_SECONDS = 60;
const SCRAPE_INTERVAL_SECONDS = 2;
const logDir = join(REPO_ROOT, 'e2e/.logs', `observability-${new Date().toISOString().replace(/[:.]/g, '-')}`);

let mesh: MeshE2e | undefined;
let prometheus: PrometheusServer | undefined;
let podDiscovery: PodDiscoveryServer | undefined;
let prometheusStartedAt = 0;
let edge: EdgeTarget;
let web: V1Pod;

const podName = (pod: V1Pod): string => pod.metadata?.name ?? '';
const podIp = (pod: V1Pod): string => pod.status?.podIP ?? '';

function theMesh(): MeshE2e {
  assert.ok(mesh, 'the mesh started');
  return mesh;
}

function thePrometheus(): PrometheusServer {
  assert.ok(prometheus, 'prometheus started');
  return prometheus;
}

async function readyPod(namespace: string, selector: string, timeoutMs = 180_000): Promise<V1Pod> {
  return theMesh().waitForPod(namespace, selector, isPodReady, timeoutMs);
}

/** curl inside a pod's container; true when the answer is `expect`. */
async function curlFrom(pod: V1Pod, container: string, url: string, expect = '200'): Promise<boolean> {
  const result = await theMesh().runner.exec(pod.metadata?.namespace ?? '', podName(pod), container, ['curl', '-s', '-o', '/dev/null', '-m', '5', '-w', '%{http_code}', url], { timeoutMs: 15_000 });
  return result.stdout.trim() === expect;
}

/** One metric of a pod's sidecar, summed over the series whose labels include `labels`. */
async function sidecarMetric(pod: V1Pod, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://${podIp(pod)}:15020/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  return metricValue(text, name, labels);
}

/**
 * Resolves once Prometheus has, for each job, at least that many targets, all of them up and
 * scraped after `since` (ms since the epoch): what happened before `since` is in the TSDB.
 */
async function scrapedAfter(since: number, jobs: Record<string, number>, timeoutMs = 30_000): Promise<PromTarget[]> {
  const prom = thePrometheus();
  const done = (active: PromTarget[]): boolean =>
    Object.entries(jobs).every(([job, count]) => {
      const mine = active.filter((t) => t.labels.job === job);
      return mine.length >= count && mine.every((t) => t.health === 'up' && Date.parse(t.lastScrape) > since);
    });
  try {
    return await eventually(`scrapes of ${Object.keys(jobs).join(', ')}`, async () => {
      const active = await prom.activeTargets();
      return done(active) ? active : undefined;
    }, timeoutMs, 500);
  } catch (error) {
    const active = await prom.activeTargets();
    throw new Error(`${(error as Error).message}\n${active.map((t) => `${t.labels.job} ${t.scrapeUrl} ${t.health} last ${t.lastScrape} ${t.lastError}`).join('\n')}`);
  }
}

/** A TLS client offering the mesh's ALPN but no certificate, from the node to a meshed pod's app port: the inbound sidecar fails the handshake. */
function tlsWithoutMeshCertificate(address: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: address, port, rejectUnauthorized: false, ALPNProtocols: ['reseal/1'], timeout: 5000 });
    let outcome = 'closed';
    socket.once('secureConnect', () => {
      outcome = 'handshake completed on the client side';
      socket.write('GET / HTTP/1.1\r\nhost: web\r\n\r\n');
    });
    socket.once('timeout', () => socket.destroy(new Error('timed out')));
    socket.once('error', (error: Error) => {
      outcome = error.message;
    });
    socket.once('close', () => resolve(outcome));
  });
}

/** A Certify call with a token that is no ServiceAccount token: the control plane refuses it. */
function certifyWithBogusToken(address: string): Promise<string> {
  return new Promise((resolve) => {
    const session = http2Connect(`https://${address}:15012`, { rejectUnauthorized: false });
    const done = (what: string): void => {
      session.close();
      resolve(what);
    };
    session.on('error', (error: Error) => done(`session error: ${error.message}`));
    session.setTimeout(10_000, () => {
      session.destroy();
      resolve('timed out');
    });
    const request = session.request({
      ':method': 'POST',
      ':path': '/reseal.identity.v1.Identity/Certify',
      'content-type': 'application/grpc',
      te: 'trailers',
      authorization: 'Bearer not-a-service-account-token',
    });
    let status = '';
    request.on('response', (headers) => {
      status = String(headers['grpc-status'] ?? '');
    });
    request.on('trailers', (trailers) => {
      status = String(trailers['grpc-status'] ?? status);
    });
    request.on('error', (error: Error) => done(`stream error: ${error.message}`));
    request.on('close', () => done(`grpc-status ${status}`));
    request.resume();
    // One gRPC message frame (uncompressed, length 0): an empty CertifyRequest.
    request.end(Buffer.alloc(5));
  });
}

describe('the OpenTelemetry Collector config', () => {
  test('parses, receives OTLP on 4317/4318 and exposes Prometheus on 8889 with the resource as labels', () => {
    const config = parse(readFileSync(join(DASHBOARDS_DIR, 'otel-collector.yaml'), 'utf8')) as {
      receivers?: { otlp?: { protocols?: { grpc?: { endpoint?: string }; http?: { endpoint?: string } } } };
      processors?: Record<string, unknown>;
      exporters?: { prometheus?: { endpoint?: string; resource_to_telemetry_conversion?: { enabled?: boolean } } };
      service?: { pipelines?: { metrics?: { receivers?: string[]; processors?: string[]; exporters?: string[] } } };
    };
    assert.match(config.receivers?.otlp?.protocols?.grpc?.endpoint ?? '', /:4317$/);
    assert.match(config.receivers?.otlp?.protocols?.http?.endpoint ?? '', /:4318$/);
    assert.ok(config.processors && 'batch' in config.processors, 'a batch processor');
    assert.match(config.exporters?.prometheus?.endpoint ?? '', /:8889$/);
    assert.equal(config.exporters?.prometheus?.resource_to_telemetry_conversion?.enabled, true);
    const metrics = config.service?.pipelines?.metrics;
    assert.ok(metrics?.receivers?.includes('otlp'), 'the metrics pipeline receives OTLP');
    assert.ok(metrics?.processors?.includes('batch'), 'the metrics pipeline batches');
    assert.ok(metrics?.exporters?.includes('prometheus'), 'the metrics pipeline exports to Prometheus');
  });
});

describe('Reseal dashboards against a real Prometheus', { timeout: 8 * 60_000 }, () => {
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;

  before(async () => {
    mesh = await startMeshE2e({ certTtlSeconds: CERT_TTL_SECONDS, logDir });
    mesh.log(`observability: mesh up at ${elapsed()}`);
    // Prometheus first, so that the admissions, issuances and discovery pushes of the
    // workloads below happen while it scrapes (rates and quantiles need samples on both sides).
    let discovery: Discovery = { kind: 'kubernetes', kubeconfigPath: mesh.cluster.kubeconfigPath };
    if (!hasKubernetesDiscovery()) {
      podDiscovery = await startPodDiscovery(mesh.core);
      discovery = { kind: 'http', url: podDiscovery.url };
    }
    const config = renderPrometheusConfig({ discovery, scrapeInterval: `${SCRAPE_INTERVAL_SECONDS}s` });
    prometheus = await startPrometheus({ config: config.yaml, logDir });
    prometheusStartedAt = Date.now();
    mesh.log(`observability: prometheus at ${prometheus.url} (jobs ${config.jobs.join(', ')}, ${discovery.kind} discovery) at ${elapsed()}`);
    // Counters count from their first scrape: the control plane and the injector are scraped
    // before the workloads' admissions and first certificates, the sidecars before traffic.
    await scrapedAfter(prometheusStartedAt, { 'reseal-control-plane': 1, 'reseal-injector': 1 });

    ({ web, edge } = await deployShop(mesh));
    await readyPod('shop', 'app=intruder');
    await scrapedAfter(Date.now(), { 'reseal-proxy': 3 });
    mesh.log(`observability: workloads ready and scraped at ${elapsed()}`);
  });

  after(async () => {
    await prometheus?.stop();
    prometheus = undefined;
    await podDiscovery?.stop();
    podDiscovery = undefined;
    await mesh?.stop();
  });

  test('traffic that makes every metric exist, and then grow', async () => {
    const m = theMesh();
    const intruder = await readyPod('shop', 'app=intruder');
    const plain = await readyPod('outside', 'app=plain-client');
    const controlPlane = await readyPod(MESH_NAMESPACE, 'app.kubernetes.io/name=reseal-control-plane');
    // rate() counts from a series' first sample: a label set that first appears with its
    // first event shows no increase. So every kind of event happens, is scraped, and happens again.
    const scraped = (): Promise<unknown> => scrapedAfter(Date.now(), { 'reseal-proxy': 3, 'reseal-control-plane': 1, 'reseal-injector': 1 });
    const edgeRound = async (round: number): Promise<void> => {
      // Sequential, then concurrent: nginx opens more upstream (mTLS) connections for the latter.
      for (let i = 0; i < 5; i++) assert.equal((await edgeRequest(edge, `/hello/${round}/${i}`)).status, 200);
      const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => edgeRequest(edge, `/burst/${round}/${i}`).then((r) => r.status)));
      assert.deepEqual([...new Set(statuses)], [200]);
      // 5xx from the app, through the mesh, to the edge.
      for (const code of [503, 500]) assert.equal((await edgeRequest(edge, `/status/${code}`)).status, code, `the app's ${code} reaches the edge`);
    };
    const otherRound = async (): Promise<void> => {
      // A meshed client of another ServiceAccount (no policy yet): served; then a port no app listens on.
      assert.ok(await curlFrom(intruder, 'toolbox', `http://${podIp(web)}:8080/before-policy`), 'the intruder is allowed without a policy');
      assert.ok(!(await curlFrom(intruder, 'toolbox', `http://${podIp(web)}:9/nothing-listens`)), 'no app on port 9');
      // Plaintext from an unmeshed pod under STRICT: refused.
      assert.ok(!(await curlFrom(plain, 'toolbox', `http://${podIp(web)}:8080/strict`)), 'plaintext refused under STRICT');
      // TLS offering the mesh's ALPN without a certificate, from the node: a failed inbound handshake.
      m.log(`observability: TLS without a mesh certificate: ${await tlsWithoutMeshCertificate(podIp(web), 8080)}`);
      // A certificate request the CA refuses.
      const refusal = await certifyWithBogusToken(podIp(controlPlane));
      m.log(`observability: bogus Certify: ${refusal}`);
      assert.doesNotMatch(refusal, /grpc-status 0$/, 'the bogus certificate request is refused');
      // An admission through the webhook (a dry run stores nothing but is admitted all the same).
      const admitted = await m.core.createNamespacedPod({
        namespace: 'shop',
        dryRun: 'All',
        body: { metadata: { generateName: 'admission-probe-' }, spec: { containers: [{ name: 'toolbox', image: 'reseal-e2e/toolbox:1' }] } },
      });
      assert.ok(admitted.spec?.initContainers?.some((c) => c.name === 'reseal-proxy'), 'the dry-run pod was injected');
    };

    for (const round of [1, 2]) {
      await edgeRound(round);
      await otherRound();
      await scraped();
    }
    assert.ok((await sidecarMetric(web, 'reseal_proxy_tls_handshake_failures_total', { direction: 'inbound' })) >= 2, 'the handshake failures are counted');

    // The AccessPolicy: only the ingress may call web; the intruder is denied (not_allowed), twice.
    await m.kubectl(['apply', '-f', join(WORKLOADS, 'web-policy.yaml')]);
    await eventually('the intruder to be refused', async () => ((await curlFrom(intruder, 'toolbox', `http://${podIp(web)}:8080/denied`)) ? undefined : true), 30_000, 500);
    await scraped();
    assert.ok(!(await curlFrom(intruder, 'toolbox', `http://${podIp(web)}:8080/denied-again`)), 'the intruder is refused again');

    // Plaintext served under PERMISSIVE, twice.
    await m.kubectl(['annotate', 'namespace', 'shop', 'reseal.dev/mtls-mode=PERMISSIVE', '--overwrite']);
    try {
      await eventually('plaintext to be served under PERMISSIVE', async () => ((await curlFrom(plain, 'toolbox', `http://${podIp(web)}:8080/permissive`)) ? true : undefined), 30_000, 500);
      await scraped();
      assert.ok(await curlFrom(plain, 'toolbox', `http://${podIp(web)}:8080/permissive-again`), 'plaintext served again under PERMISSIVE');
    } finally {
      await m.kubectl(['annotate', 'namespace', 'shop', 'reseal.dev/mtls-mode-']);
    }
    await eventually('STRICT again', async () => ((await curlFrom(plain, 'toolbox', `http://${podIp(web)}:8080/strict-again`)) ? undefined : true), 30_000, 500);
    await edgeRound(3);

    // A renewal: the first issuance counts as one; certificates live 60 s and renew at about half.
    await eventually('a certificate renewal of the web sidecar', async () => ((await sidecarMetric(web, 'reseal_identity_renewals_total', { result: 'success' })) >= 2 ? true : undefined), 60_000, 1000);
    m.log(`observability: traffic done at ${elapsed()}`);
  });

  test('Prometheus scrapes every sidecar, the control plane and the injector', async () => {
    const targets = await scrapedAfter(Date.now() + SCRAPE_INTERVAL_SECONDS * 1000, { 'reseal-proxy': 3, 'reseal-control-plane': 1, 'reseal-injector': 1 });
    const proxies = targets.filter((t) => t.labels.job === 'reseal-proxy');
    assert.deepEqual(proxies.map((t) => t.labels.namespace).sort(), ['ingress', 'shop', 'shop'], 'one target per meshed pod');
    assert.deepEqual(proxies.map((t) => t.labels.workload).sort(), ['ingress-nginx-controller', 'intruder', 'web'], 'sidecar targets carry their workload');
    assert.ok(
      proxies.every((t) => t.labels.pod && t.scrapeUrl.endsWith(':15020/metrics')),
      'sidecar targets carry the pod and scrape the admin port',
    );
  });

  test('every panel and variable query of every dashboard returns data from metrics the code emits', async () => {
    const prom = thePrometheus();
    const dashboards = loadDashboards(DASHBOARDS_DIR);
    assert.deepEqual(dashboards.files, ['control-plane.json', 'identity.json', 'mesh-overview.json', 'workload.json']);
    const declared = new Set(dashboards.variables.map((v) => v.variable).concat('datasource'));
    // The whole run fits in the rate window, so that rates and quantiles see every event.
    const window = `${Math.ceil((Date.now() - prometheusStartedAt) / 1000) + 30}s`;
    const values: TemplateValues = { rateInterval: window, range: window, interval: `${SCRAPE_INTERVAL_SECONDS * 5}s` };
    const exposed = new Set(await prom.metricNames());

    const failures: string[] = [];
    const check = async (where: string, raw: string, finite: boolean): Promise<void> => {
      let expr = raw;
      try {
        expr = substituteVariables(raw, values, declared);
        const unknown = metricNames(expr).filter((name) => !exposed.has(name));
        if (unknown.length > 0) failures.push(`${where}: reads ${unknown.join(', ')}, which no component exposes\n    ${raw}`);
        const result = await prom.query(expr);
        if (result.length === 0) failures.push(`${where}: no series\n    ${expr}`);
        else if (finite && !result.some((s) => Number.isFinite(Number(s.value[1])))) {
          failures.push(`${where}: only NaN/Inf (no events in the window)\n    ${expr}`);
          // The samples behind it, for whoever reads the failure.
          for (const name of metricNames(expr)) {
            await appendFile(join(logDir, 'prometheus-failed-queries.log'), `${where}\n${name}[${window}]:\n${JSON.stringify(await prom.queryRaw(`${name}[${window}]`))}\n\n`);
          }
        }
      } catch (error) {
        failures.push(`${where}: ${(error as Error).message}\n    ${expr}`);
      }
    };
    for (const panel of dashboards.panels) await check(`${panel.dashboard} / panel "${panel.panel}" / ${panel.refId}`, panel.expr, true);
    for (const variable of dashboards.variables) await check(`${variable.dashboard} / variable $${variable.variable}`, variableAsQuery(variable.query), false);
    theMesh().log(`observability: ${dashboards.panels.length} panel queries and ${dashboards.variables.length} variable queries checked, window ${window}`);
    assert.deepEqual(failures, [], `dashboard queries without data:\n${failures.join('\n')}`);
  });
});

describe('after the observability run', () => {
  test('no Prometheus, network namespace, bridge or pod process is left behind', async () => {
    await prometheus?.stop();
    await podDiscovery?.stop();
    await mesh?.stop();
    const netns = readdirSync('/run/netns', { withFileTypes: true }).map((d) => d.name).filter((n) => n.startsWith('rse2e'));
    assert.deepEqual(netns, []);
    assert.notEqual(spawnSync('ip', ['link', 'show', 'rse2e0']).status, 0, 'the bridge is gone');
    const leftovers = spawnSync('pgrep', ['-af', 'e2e/apps/|/bin/reseal-(init|control-plane|injector)\\.js|dist/reseal-proxy\\.mjs|nginx: master|reseal-e2e-prometheus-'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(leftovers, '', 'no process of the run is left');
  });
});
