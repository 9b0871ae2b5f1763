// The admin port over real HTTP: /live, /ready (certificate and discovery), /metrics with the
// identity's real values, /debug/identity without the key, and /app-health running real
// HTTP, HTTPS, TCP and gRPC probes against apps on loopback.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { generateWorkloadKeyPair } from '@reseal/core';
import { pino } from 'pino';
import { CertificateAuthority } from '../../control-plane/src/ca/certificate-authority.js';
import { parseConfig } from '../../control-plane/src/config.js';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/src/control-plane.js';
import { AdminServer } from '../src/admin/admin-server.js';
import { parseAppProbes } from '../src/admin/app-probes.js';
import { healthService, type HealthCheckRequest, type HealthCheckResponse, type ServingStatus } from '../src/admin/grpc-health.js';
import { WorkloadIdentity } from '../src/identity/workload-identity.js';
import { registerIdentityMetrics } from '../src/telemetry/identity-metrics.js';
import { createTelemetry, type Telemetry } from '../src/telemetry/telemetry.js';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const WEB_TOKEN = 'web-bootstrap-token-0123456789';
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let dir: string;
let controlPlane: RunningControlPlane;
let identity: WorkloadIdentity;
let telemetry: Telemetry;
let admin: AdminServer;
const mesh = { synced: false };
const grpcStatuses = new Map<string, ServingStatus>([
  ['', 'SERVING'],
  ['orders', 'NOT_SERVING'],
]);
const stops: (() => unknown)[] = [];

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startApps(): Promise<{ httpPort: number; httpsPort: number; grpcPort: number; closed: number }> {
  const handler: http.RequestListener = (request, response) => {
    switch (request.url) {
      case '/healthz':
        response.end('ok');
        return;
      case '/fail':
        response.writeHead(500).end('broken');
        return;
      case '/moved':
        response.writeHead(302, { location: '/healthz' }).end();
        return;
      case '/headers':
        response.writeHead(request.headers['x-probe'] === 'yes' && request.headers['user-agent']?.startsWith('kube-probe/') ? 200 : 401).end();
        return;
      case '/slow':
        // Never answers: the probe's timeout must.
        return;
      default:
        response.writeHead(404).end();
    }
  };
  const app = http.createServer(handler);
  const httpPort = await listen(app);
  stops.push(() => app.close(), () => app.closeAllConnections());

  const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const key = generateWorkloadKeyPair();
  const cert = ca.issueWorkloadSvid({ publicKey: key.publicKey, spiffeId: 'spiffe://cluster.local/ns/shop/sa/tls-app', ttlSeconds: 600 });
  const tlsApp = https.createServer({ key: key.privateKey.export({ format: 'pem', type: 'pkcs8' }), cert: cert.chainPem }, handler);
  const httpsPort = await listen(tlsApp);
  stops.push(() => tlsApp.close(), () => tlsApp.closeAllConnections());

  const grpcServer = new grpc.Server();
  grpcServer.addService(healthService().service, {
    check: (call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: grpc.sendUnaryData<HealthCheckResponse>) => {
      const status = grpcStatuses.get(call.request.service);
      if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      else callback(null, { status });
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
  );
  stops.push(() => grpcServer.forceShutdown());
  return { httpPort, httpsPort, grpcPort, closed: await closedPort() };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reseal-admin-test-'));
  writeFileSync(join(dir, 'tokens.json'), JSON.stringify({ tokens: [{ token: WEB_TOKEN, namespace: 'shop', serviceAccount: 'web' }] }));
  writeFileSync(join(dir, 'web.token'), WEB_TOKEN);
  controlPlane = await startControlPlane(
    parseConfig({ RESEAL_STANDALONE_TOKENS: join(dir, 'tokens.json'), RESEAL_LISTEN_HOST: '127.0.0.1', RESEAL_IDENTITY_PORT: '0', RESEAL_CERT_TTL: '60s' }),
    { logger },
  );
  identity = new WorkloadIdentity({
    spiffeId: WEB,
    controlPlaneAddress: `127.0.0.1:${controlPlane.identityPort}`,
    controlPlaneRootsPem: controlPlane.ca().trustBundlePem,
    tokenPath: join(dir, 'web.token'),
    ttlSeconds: 600,
    logger,
  });
  telemetry = createTelemetry('reseal-proxy-test');
  registerIdentityMetrics(telemetry.meter, identity);
  const apps = await startApps();
  const appProbes = parseAppProbes({
    web: {
      liveness: { httpGet: { path: '/healthz', port: apps.httpPort } },
      readiness: { httpGet: { path: '/fail', port: apps.httpPort } },
      startup: { httpGet: { path: '/moved', port: apps.httpPort } },
    },
    headers: {
      liveness: { httpGet: { path: '/headers', port: apps.httpPort, httpHeaders: [{ name: 'X-Probe', value: 'yes' }] } },
      readiness: { httpGet: { path: '/headers', port: apps.httpPort } },
    },
    slow: { liveness: { httpGet: { path: '/slow', port: apps.httpPort }, timeoutSeconds: 1 } },
    secure: { liveness: { httpGet: { path: '/healthz', port: apps.httpsPort, scheme: 'HTTPS' } }, readiness: { httpGet: { path: '/healthz', port: apps.httpPort, scheme: 'HTTPS' } } },
    tcp: { liveness: { tcpSocket: { port: apps.closed } }, readiness: { tcpSocket: { port: apps.httpPort } } },
    rpc: {
      liveness: { grpc: { port: apps.grpcPort } },
      readiness: { grpc: { port: apps.grpcPort, service: 'orders' } },
      startup: { grpc: { port: apps.closed } },
    },
    unknownservice: { liveness: { grpc: { port: apps.grpcPort, service: 'nope' } } },
    script: { liveness: { exec: { command: ['true'] } } },
  });
  admin = new AdminServer({ logger, identity, mesh, metricsHandler: telemetry.metricsHandler, appProbes, host: '127.0.0.1', port: 0 });
  await admin.start();
});

after(async () => {
  await admin?.stop();
  identity?.stop();
  for (const stop of stops.reverse()) await stop();
  await telemetry?.shutdown();
  await controlPlane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Raw HTTP, so that odd paths reach the server exactly as written. */
function request(path: string, method = 'GET', port = admin.port): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function json(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await request(path);
  assert.match(String(reply.headers['content-type']), /application\/json/);
  return { status: reply.status, body: JSON.parse(reply.body) as Record<string, unknown> };
}

/** Value of one sample in Prometheus text: `name{labels} value`, labels matched as given. */
function sample(metrics: string, name: string, labels = ''): number | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(labels)) return Number(m[3]);
  }
  return undefined;
}

test('before the first certificate: /live 200, /ready 503 naming both reasons, /debug/identity without a certificate', async () => {
  assert.equal((await request('/live')).status, 200);
  const ready = await json('/ready');
  assert.equal(ready.status, 503);
  assert.equal(ready.body.ready, false);
  assert.deepEqual(ready.body.reasons, ['no workload certificate yet', 'discovery has not delivered its first snapshot']);
  assert.equal(ready.body.certificate, null);
  const debug = await json('/debug/identity');
  assert.equal(debug.status, 200);
  assert.equal(debug.body.spiffeId, WEB);
  assert.equal(debug.body.certificate, null);
  const metrics = (await request('/metrics')).body;
  assert.equal(sample(metrics, 'reseal_identity_certificate_expiry_timestamp_seconds'), undefined, 'no expiry before a certificate');
  assert.equal(sample(metrics, 'reseal_identity_renewals_total', 'result="success"'), 0);
  assert.equal(sample(metrics, 'reseal_identity_consecutive_renewal_failures'), 0);
});

test('/ready: 503 while discovery is not synced, 200 with the expiry once both hold, 503 while draining', async () => {
  const material = await identity.start();
  let ready = await json('/ready');
  assert.equal(ready.status, 503);
  assert.deepEqual(ready.body.reasons, ['discovery has not delivered its first snapshot']);
  mesh.synced = true;
  ready = await json('/ready');
  assert.equal(ready.status, 200);
  assert.equal(ready.body.ready, true);
  const certificate = ready.body.certificate as { serial: string; notAfter: string; expiresInSeconds: number };
  assert.equal(certificate.serial, material.serial);
  assert.equal(certificate.notAfter, material.notAfter.toISOString());
  assert.ok(certificate.expiresInSeconds > 500 && certificate.expiresInSeconds <= 600);
  assert.equal((await request('/ready', 'HEAD')).status, 200);

  admin.setDraining(true);
  ready = await json('/ready');
  assert.equal(ready.status, 503);
  assert.match(String((ready.body.reasons as string[])[0]), /draining/);
  admin.setDraining(false);
  assert.equal((await request('/ready')).status, 200);
});

test('/ready: 503 once the certificate has expired', async () => {
  const later = new AdminServer({ logger, identity, mesh, host: '127.0.0.1', port: 0, now: () => Date.now() + 2 * 3600_000 });
  await later.start();
  try {
    const reply = await request('/ready', 'GET', later.port);
    assert.equal(reply.status, 503);
    assert.match(reply.body, /workload certificate expired at/);
    // No telemetry wired: /metrics says so instead of failing.
    assert.equal((await request('/metrics', 'GET', later.port)).status, 404);
  } finally {
    await later.stop();
  }
});

test('/debug/identity: chain, trust bundle and renewal state, never the key', async () => {
  const reply = await request('/debug/identity');
  assert.equal(reply.status, 200);
  assert.doesNotMatch(reply.body, /PRIVATE KEY/);
  const body = JSON.parse(reply.body) as {
    spiffeId: string;
    certificate: { serial: string; certificateChainPem: string; chain: { subjectAltName: string; ca: boolean }[]; expired: boolean };
    trustBundle: { pem: string; source: string; roots: { ca: boolean }[] };
    renewal: { consecutiveFailures: number; lastRenewal: string; lastRenewalAuth: string; nextAttempt: string };
  };
  const material = identity.current()!;
  assert.equal(body.spiffeId, WEB);
  assert.equal(body.certificate.serial, material.serial);
  assert.equal(body.certificate.certificateChainPem, material.certificateChainPem);
  assert.equal(body.certificate.chain[0]!.subjectAltName, `URI:${WEB}`);
  assert.equal(body.certificate.chain[0]!.ca, false);
  assert.equal(body.certificate.expired, false);
  assert.equal(body.trustBundle.pem, material.trustBundlePem);
  assert.equal(body.trustBundle.source, 'control-plane');
  assert.deepEqual(body.trustBundle.roots.map((r) => r.ca), [true]);
  assert.equal(body.renewal.consecutiveFailures, 0);
  assert.equal(body.renewal.lastRenewalAuth, 'token');
  assert.ok(Date.parse(body.renewal.nextAttempt) > Date.now());
});

test('/metrics: the identity metrics with real values, following a rotation', async () => {
  let metrics = (await request('/metrics')).body;
  const material = identity.current()!;
  assert.equal(sample(metrics, 'reseal_identity_certificate_expiry_timestamp_seconds'), material.notAfter.getTime() / 1000);
  assert.equal(sample(metrics, 'reseal_identity_renewals_total', 'result="success"'), 1);
  assert.equal(sample(metrics, 'reseal_identity_renewals_total', 'result="failure"'), 0);
  assert.equal(sample(metrics, 'reseal_identity_consecutive_renewal_failures'), 0);
  assert.equal(sample(metrics, 'reseal_identity_trust_bundle_roots'), 1);
  const since = sample(metrics, 'reseal_identity_seconds_since_last_renewal')!;
  assert.ok(since >= 0 && since < 60, `seconds since last renewal: ${since}`);
  assert.match(metrics, /# TYPE reseal_identity_renewals_total counter/);

  const rotated = await identity.rotateNow();
  metrics = (await request('/metrics')).body;
  assert.equal(sample(metrics, 'reseal_identity_renewals_total', 'result="success"'), 2);
  assert.equal(sample(metrics, 'reseal_identity_certificate_expiry_timestamp_seconds'), rotated.notAfter.getTime() / 1000);
});

test('/app-health over HTTP: 2xx and 3xx pass, 5xx fails, headers are sent, a silent app times out', async () => {
  const cases: [string, number, RegExp][] = [
    ['/app-health/web/liveness', 200, /HTTP 200/],
    ['/app-health/web/readiness', 503, /HTTP 500/],
    ['/app-health/web/startup', 200, /HTTP 302/],
    ['/app-health/headers/liveness', 200, /HTTP 200/],
    ['/app-health/headers/readiness', 503, /HTTP 401/],
    ['/app-health/secure/liveness', 200, /GET https:.*HTTP 200/],
    ['/app-health/secure/readiness', 503, /GET https:/],
  ];
  for (const [path, status, detail] of cases) {
    const reply = await json(path);
    assert.equal(reply.status, status, `${path}: ${JSON.stringify(reply.body)}`);
    assert.equal(reply.body.ok, status === 200);
    assert.match(String(reply.body.detail), detail, path);
  }
  const started = Date.now();
  const slow = await json('/app-health/slow/liveness');
  assert.equal(slow.status, 503);
  assert.match(String(slow.body.detail), /no response within 1000 ms/);
  assert.ok(Date.now() - started < 3000);
  assert.equal((await request('/app-health/web/liveness', 'HEAD')).status, 200);
});

test('/app-health over TCP: an open port passes, a closed one fails', async () => {
  const open = await json('/app-health/tcp/readiness');
  assert.equal(open.status, 200);
  assert.match(String(open.body.detail), /connected/);
  const closed = await json('/app-health/tcp/liveness');
  assert.equal(closed.status, 503);
  assert.match(String(closed.body.detail), /ECONNREFUSED/);
});

test('/app-health over gRPC: SERVING passes; NOT_SERVING, an unknown service and a closed port fail; status changes are seen', async () => {
  assert.equal((await json('/app-health/rpc/liveness')).status, 200);
  const notServing = await json('/app-health/rpc/readiness');
  assert.equal(notServing.status, 503);
  assert.match(String(notServing.body.detail), /service="orders".*NOT_SERVING/);
  const unknown = await json('/app-health/unknownservice/liveness');
  assert.equal(unknown.status, 503);
  assert.match(String(unknown.body.detail), /NOT_FOUND/);
  const closed = await json('/app-health/rpc/startup');
  assert.equal(closed.status, 503);
  assert.match(String(closed.body.detail), /UNAVAILABLE/);

  grpcStatuses.set('', 'NOT_SERVING');
  assert.equal((await json('/app-health/rpc/liveness')).status, 503);
  grpcStatuses.set('', 'SERVING');
  assert.equal((await json('/app-health/rpc/liveness')).status, 200);
});

test('unknown containers, probes and paths: 404 with a reason; exec probes: 404 saying so; other methods: 405; the server keeps serving', async () => {
  const notFound: [string, RegExp][] = [
    ['/app-health/nobody/liveness', /no probes are configured for container "nobody"/],
    ['/app-health/web/bogus', /unknown probe "bogus"/],
    ['/app-health/tcp/startup', /container "tcp" has no startup probe/],
    ['/app-health/script/liveness', /exec probe.*not run by the sidecar/],
    ['/app-health/web', /expected \/app-health\/<container>/],
    ['/app-health', /expected \/app-health\/<container>/],
    ['/app-health/web/liveness/extra', /expected \/app-health\/<container>/],
    ['/app-health/%E0%A4%A/liveness', /percent-encoding/],
    ['/app-health/constructor/liveness', /no probes are configured/],
    ['/app-health/__proto__/liveness', /no probes are configured/],
    ['/app-health/web/toString', /unknown probe/],
    ['/nope', /no such endpoint/],
    ['/', /no such endpoint/],
    ['/live/', /no such endpoint/],
  ];
  for (const [path, message] of notFound) {
    const reply = await json(path);
    assert.equal(reply.status, 404, path);
    assert.match(String(reply.body.error), message, path);
  }
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const reply = await request('/ready', method);
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.allow, 'GET, HEAD');
  }
  assert.equal((await request('/app-health/web/liveness', 'POST')).status, 405);
  // Query strings are ignored, as kubelet never sends any that matter.
  assert.equal((await request('/live?x=1')).status, 200);
  assert.equal((await request('/live')).status, 200);
  assert.equal((await request('/ready')).status, 200);
});
