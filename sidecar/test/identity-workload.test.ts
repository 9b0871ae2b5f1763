// The workload identity against a real control plane (standalone mode, real gRPC and TLS):
// first issuance, handshakes between two identities, rotation under an open connection,
// an unreachable control plane, a refused token, and trust-bundle hot reload.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import tls, { type SecureContext } from 'node:tls';
import { generateWorkloadKeyPair, readSpiffeId } from '@reseal/core';
import { pino } from 'pino';
import { CertificateAuthority } from '../../control-plane/src/ca/certificate-authority.js';
import { parseConfig } from '../../control-plane/src/config.js';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/src/control-plane.js';
import { RESEAL_ALPN, type TlsMaterial } from '../src/identity/tls-identity.js';
import { parseTrustBundle } from '../src/identity/trust-bundle.js';
import { TrustBundleWatcher } from '../src/identity/trust-bundle-watcher.js';
import { WorkloadIdentity, type WorkloadIdentityOptions } from '../src/identity/workload-identity.js';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const API = 'spiffe://cluster.local/ns/shop/sa/api';
const WEB_TOKEN = 'web-bootstrap-token-0123456789';
const API_TOKEN = 'api-bootstrap-token-0123456789';
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let dir: string;
let controlPlane: RunningControlPlane | undefined;
let controlPlanePort: number;
let controlPlaneRoots: string;
const cleanups: (() => unknown)[] = [];

async function startTestControlPlane(port: number): Promise<RunningControlPlane> {
  const config = parseConfig({
    RESEAL_STANDALONE_TOKENS: join(dir, 'tokens.json'),
    // A CA on disk survives the restart in the "control plane back" test, as in a real deployment.
    RESEAL_STANDALONE_CA_DIR: join(dir, 'ca'),
    RESEAL_LISTEN_HOST: '127.0.0.1',
    RESEAL_IDENTITY_PORT: String(port),
    RESEAL_CERT_TTL: '60s',
  });
  return startControlPlane(config, { logger });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reseal-workload-identity-test-'));
  writeFileSync(
    join(dir, 'tokens.json'),
    JSON.stringify({
      tokens: [
        { token: WEB_TOKEN, namespace: 'shop', serviceAccount: 'web' },
        { token: API_TOKEN, namespace: 'shop', serviceAccount: 'api' },
      ],
    }),
  );
  writeFileSync(join(dir, 'web.token'), `${WEB_TOKEN}\n`);
  writeFileSync(join(dir, 'api.token'), API_TOKEN);
  controlPlane = await startTestControlPlane(0);
  controlPlanePort = controlPlane.identityPort;
  controlPlaneRoots = controlPlane.ca().trustBundlePem;
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  // A test that stopped the control plane and failed midway must not take the next ones down with it.
  controlPlane ??= await startTestControlPlane(controlPlanePort);
});

after(async () => {
  await controlPlane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function identity(spiffeId: string, tokenFile: string, extra: Partial<WorkloadIdentityOptions> = {}): WorkloadIdentity {
  const created = new WorkloadIdentity({
    spiffeId,
    controlPlaneAddress: `127.0.0.1:${controlPlanePort}`,
    controlPlaneRootsPem: controlPlaneRoots,
    tokenPath: join(dir, tokenFile),
    // Long enough that no scheduled renewal interferes with a test.
    ttlSeconds: 600,
    logger,
    backoff: { initialMs: 50, maxMs: 400 },
    ...extra,
  });
  cleanups.push(() => created.stop());
  return created;
}

interface Peer {
  readonly spiffeId: string | null;
  readonly serial: string;
  readonly authorized: boolean;
}

/**
 * A TLS echo server requiring client certificates. The identity's SecureContext is handed over
 * through SNICallback: a bare `new TLSSocket(…, { isServer: true })` would complete handshakes
 * without ever checking the client's chain (only tls.Server computes `authorized`).
 */
async function echoServer(context: () => SecureContext): Promise<{ port: number; peers: Peer[]; failures: Error[] }> {
  const peers: Peer[] = [];
  const failures: Error[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    {
      SNICallback: (_name, callback) => callback(null, context()),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: [RESEAL_ALPN],
      minVersion: 'TLSv1.3',
    },
    (socket) => {
      const cert = socket.getPeerCertificate();
      peers.push({ spiffeId: cert.raw ? readSpiffeId(cert.raw) : null, serial: cert.serialNumber, authorized: socket.authorized });
      socket.on('error', () => socket.destroy());
      socket.pipe(socket);
    },
  );
  server.on('connection', (raw: net.Socket) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
  });
  server.on('tlsClientError', (error) => failures.push(error));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, peers, failures };
}

/** A client that insists on the server's SPIFFE ID, as the outbound side does. */
function connect(port: number, context: SecureContext, expectedServer: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: '127.0.0.1',
        port,
        // Any name: it only makes the server's SNICallback run.
        servername: 'mesh.reseal.internal',
        secureContext: context,
        ALPNProtocols: [RESEAL_ALPN],
        checkServerIdentity: (_host, cert) => {
          const id = readSpiffeId(cert.raw);
          return id === expectedServer ? undefined : new Error(`server is ${id}, expected ${expectedServer}`);
        },
      },
      () => resolve(socket),
    );
    socket.once('error', reject);
    cleanups.push(() => socket.destroy());
  });
}

function echo(socket: tls.TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer) => {
      received += chunk.toString();
      if (received.length >= text.length) {
        socket.off('data', onData);
        resolve(received);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    // In TLS 1.3 the client finishes first; a server that refuses its certificate just closes.
    socket.once('close', () => reject(new Error(`connection closed after ${JSON.stringify(received)}`)));
    socket.write(text);
  });
}

function leafPublicKey(material: TlsMaterial): string {
  return new X509Certificate(material.certificateChainPem).publicKey.export({ format: 'der', type: 'spki' }).toString('hex');
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('the first certificate: this identity, the requested lifetime, and a SecureContext for a mutual TLS 1.3 handshake', async () => {
  const web = identity(WEB, 'web.token', { ttlSeconds: 60 });
  const api = identity(API, 'api.token');
  assert.equal(web.ready, false);
  assert.equal(web.current(), undefined);
  const [webMaterial, apiMaterial] = await Promise.all([web.start(), api.start()]);
  assert.equal(web.ready, true);
  assert.equal(web.current(), webMaterial);
  assert.equal(webMaterial.spiffeId, WEB);
  assert.equal(apiMaterial.spiffeId, API);
  const leaf = new X509Certificate(webMaterial.certificateChainPem);
  assert.equal(readSpiffeId(leaf), WEB);
  assert.equal(leaf.serialNumber, webMaterial.serial);
  assert.equal(webMaterial.notAfter.getTime(), leaf.validToDate.getTime());
  const remaining = (webMaterial.notAfter.getTime() - Date.now()) / 1000;
  assert.ok(remaining > 50 && remaining <= 61, `a 60 s certificate (${remaining} s left)`);
  assert.equal(webMaterial.trustBundlePem, parseTrustBundle(controlPlaneRoots).pem, 'the bundle of the Certify answer');

  const status = web.status();
  assert.equal(status.ready, true);
  assert.equal(status.expired, false);
  assert.equal(status.consecutiveFailures, 0);
  assert.equal(status.lastRenewalAuth, 'token');
  assert.equal(status.renewals.success, 1);
  assert.equal(status.trustBundleSource, 'control-plane');
  // Renewal around half of the 60 s that count (the CA back-dates NotBefore by a minute).
  const untilRenewal = status.nextAttempt!.getTime() - status.lastRenewal!.getTime();
  assert.ok(untilRenewal >= 23_000 && untilRenewal <= 37_000, `renewal in ${untilRenewal} ms`);

  const server = await echoServer(() => api.current()!.secureContext);
  const client = await connect(server.port, webMaterial.secureContext, API);
  assert.equal(client.getProtocol(), 'TLSv1.3');
  assert.equal(client.alpnProtocol, RESEAL_ALPN);
  assert.equal(await echo(client, 'hello'), 'hello');
  assert.deepEqual(server.peers, [{ spiffeId: WEB, serial: webMaterial.serial, authorized: true }]);

  // The client pins the server's identity: web is not api.
  await assert.rejects(connect(server.port, webMaterial.secureContext, 'spiffe://cluster.local/ns/shop/sa/other'), /server is spiffe:\/\/cluster.local\/ns\/shop\/sa\/api/);
});

test('rotation: a new key and serial, onChange fires, open connections keep working, new ones use the new certificate', async () => {
  const web = identity(WEB, 'web.token');
  const api = identity(API, 'api.token');
  const [before] = await Promise.all([web.start(), api.start()]);
  const changes: TlsMaterial[] = [];
  web.onChange((material) => changes.push(material));
  const server = await echoServer(() => api.current()!.secureContext);
  const open = await connect(server.port, before.secureContext, API);
  assert.equal(await echo(open, 'before'), 'before');

  const after = await web.rotateNow();
  assert.notEqual(after.serial, before.serial);
  assert.notEqual(leafPublicKey(after), leafPublicKey(before), 'a new key at every rotation');
  assert.deepEqual(changes, [after]);
  assert.equal(web.current(), after);
  assert.equal(web.status().renewals.success, 2);

  assert.equal(await echo(open, 'still open'), 'still open');
  const fresh = await connect(server.port, web.current()!.secureContext, API);
  assert.equal(await echo(fresh, 'new'), 'new');
  assert.deepEqual(
    server.peers.map((p) => p.serial),
    [before.serial, after.serial],
  );

  // Concurrent rotation requests share one attempt.
  const [a, b] = await Promise.all([web.rotateNow(), web.rotateNow()]);
  assert.equal(a, b);
});

test('control plane down: failures are counted, backoff grows, the current certificate is served; back up: renewal succeeds', async () => {
  const web = identity(WEB, 'web.token', { random: () => 0, backoff: { initialMs: 100, maxMs: 800, jitter: 0.2 }, requestTimeoutMs: 2000 });
  const api = identity(API, 'api.token');
  const [held] = await Promise.all([web.start(), api.start()]);
  await controlPlane!.stop();
  controlPlane = undefined;

  await assert.rejects(web.rotateNow(), /UNAVAILABLE/);
  const backoffs = new Map<number, number>();
  await waitFor('five failures in a row', () => {
    const status = web.status();
    if (status.backoffMs !== undefined) backoffs.set(status.consecutiveFailures, status.backoffMs);
    return status.consecutiveFailures >= 5;
  });
  // Jitter drawn as 0: exactly 100, 200, 400, 800, then the 800 ms cap.
  for (const [failures, backoff] of backoffs) assert.equal(backoff, Math.min(800, 100 * 2 ** (failures - 1)), `after ${failures} failures`);
  assert.equal(backoffs.get(1), 100);
  assert.ok(backoffs.size >= 3, `several failures observed: ${[...backoffs].join(' ')}`);
  const failing = web.status();
  assert.equal(failing.ready, true);
  assert.equal(failing.expired, false);
  assert.match(failing.lastError ?? '', /UNAVAILABLE/);
  assert.ok(failing.renewals.failure >= 5);
  assert.equal(failing.renewals.success, 1);
  assert.equal(web.current(), held, 'the current certificate is still served');

  // And it still works for a handshake.
  const server = await echoServer(() => api.current()!.secureContext);
  const client = await connect(server.port, web.current()!.secureContext, API);
  assert.equal(await echo(client, 'still serving'), 'still serving');

  controlPlane = await startTestControlPlane(controlPlanePort);
  await waitFor('a renewal after the control plane came back', () => web.status().consecutiveFailures === 0, 15_000);
  const recovered = web.status();
  assert.equal(recovered.lastError, undefined);
  assert.equal(recovered.renewals.success, 2);
  assert.notEqual(web.current()!.serial, held.serial);
  // Back on the normal schedule: minutes away, not the backoff.
  assert.ok(recovered.nextAttempt!.getTime() - Date.now() > 60_000);
});

test('a refused or missing token with a valid certificate: renewal by mTLS with the current certificate', async () => {
  writeFileSync(join(dir, 'web-rotating.token'), WEB_TOKEN);
  const web = identity(WEB, 'web-rotating.token');
  const first = await web.start();
  assert.equal(web.status().lastRenewalAuth, 'token');

  writeFileSync(join(dir, 'web-rotating.token'), 'revoked-token-revoked-token');
  const second = await web.rotateNow();
  assert.notEqual(second.serial, first.serial);
  assert.equal(web.status().lastRenewalAuth, 'certificate');
  assert.equal(web.status().consecutiveFailures, 0);

  unlinkSync(join(dir, 'web-rotating.token'));
  const third = await web.rotateNow();
  assert.notEqual(third.serial, second.serial);
  assert.equal(web.status().lastRenewalAuth, 'certificate');

  // With the token back, the token is used again.
  writeFileSync(join(dir, 'web-rotating.token'), WEB_TOKEN);
  await web.rotateNow();
  assert.equal(web.status().lastRenewalAuth, 'token');
});

test('a refused token without a certificate: no identity, retries with backoff, start() rejects on stop()', async () => {
  writeFileSync(join(dir, 'bad.token'), 'unknown-token-unknown-token');
  const web = identity(WEB, 'bad.token');
  const started = web.start();
  await waitFor('two failures', () => web.status().consecutiveFailures >= 2);
  assert.equal(web.ready, false);
  assert.equal(web.current(), undefined);
  assert.match(web.status().lastError ?? '', /UNAUTHENTICATED.*unknown bootstrap token/);
  web.stop();
  await assert.rejects(started, /stopped before the first certificate/);
  const failures = web.status().renewals.failure;
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(web.status().renewals.failure, failures, 'no attempts after stop()');
});

test('an identity the token does not prove is refused, and an answer is never taken for the wrong identity', async () => {
  // The api token asks for web: the control plane derives api and refuses the CSR.
  const web = identity(WEB, 'api.token');
  void web.start();
  await waitFor('a failure', () => web.status().consecutiveFailures >= 1);
  assert.match(web.status().lastError ?? '', /PERMISSION_DENIED/);
  assert.equal(web.ready, false);
});

/** A ConfigMap volume as kubelet writes it: data in a timestamped directory, `..data` swapped by rename. */
function publishBundle(root: string, generation: number, content: string): string {
  mkdirSync(root, { recursive: true });
  const name = `..2026_01_01_00_00_0${generation}`;
  mkdirSync(join(root, name));
  writeFileSync(join(root, name, 'ca.crt'), content);
  symlinkSync(name, join(root, '..data_tmp'));
  renameSync(join(root, '..data_tmp'), join(root, '..data'));
  if (generation === 1) symlinkSync('..data/ca.crt', join(root, 'ca.crt'));
  return join(root, 'ca.crt');
}

test('trust bundle file: a second root is hot-reloaded into a new SecureContext that trusts peers of the new root; garbage is ignored', async () => {
  const root = join(dir, 'bundle-volume');
  const path = publishBundle(root, 1, controlPlaneRoots);
  const watcher = new TrustBundleWatcher({ path, logger, pollIntervalMs: 200, debounceMs: 20 });
  cleanups.push(() => watcher.stop());
  await watcher.start();
  // Without controlPlaneRootsPem: the mounted bundle is what the control plane is checked against.
  const api = identity(API, 'api.token', { trustBundle: watcher, controlPlaneRootsPem: undefined });
  const first = await api.start();
  assert.equal(api.status().trustBundleSource, 'file');
  assert.equal(api.status().trustBundleRoots, 1);

  // A peer whose certificate comes from another root (say, the next CA during a rotation).
  const nextCa = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const peerKey = generateWorkloadKeyPair();
  const peerCert = nextCa.issueWorkloadSvid({ publicKey: peerKey.publicKey, spiffeId: WEB, ttlSeconds: 600 });
  const peerContext = tls.createSecureContext({
    key: peerKey.privateKey.export({ format: 'pem', type: 'pkcs8' }),
    cert: peerCert.chainPem,
    ca: controlPlaneRoots,
    minVersion: 'TLSv1.3',
  });
  const server = await echoServer(() => api.current()!.secureContext);
  await assert.rejects(async () => {
    const socket = await connect(server.port, peerContext, API);
    await echo(socket, 'refused');
  });
  await waitFor('the refused handshake', () => server.failures.length + server.peers.length >= 1);
  assert.ok(!server.peers.some((p) => p.authorized), 'a peer of an unknown root is not authorized');

  const changes: TlsMaterial[] = [];
  api.onChange((material) => changes.push(material));
  publishBundle(root, 2, controlPlaneRoots + nextCa.trustBundlePem);
  await waitFor('the new bundle in the identity', () => changes.length === 1);
  const updated = changes[0]!;
  assert.equal(updated.serial, first.serial, 'same certificate, new CA list');
  assert.equal(api.status().trustBundleRoots, 2);
  assert.equal(updated.trustBundlePem.match(/BEGIN CERTIFICATE/g)?.length, 2);
  const socket = await connect(server.port, peerContext, API);
  assert.equal(await echo(socket, 'now trusted'), 'now trusted');
  assert.deepEqual(server.peers.at(-1), { spiffeId: WEB, serial: new X509Certificate(peerCert.certPem).serialNumber, authorized: true });

  // Garbage in the volume: the previous bundle stays, no change is announced.
  publishBundle(root, 3, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
  assert.equal(await watcher.reload(), false);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(changes.length, 1);
  assert.equal(api.current(), updated);
  assert.equal(watcher.current()!.certificates.length, 2);

  // Renewal keeps the file's bundle as CA list (and verifies the control plane with it).
  const renewed = await api.rotateNow();
  assert.equal(renewed.trustBundlePem, updated.trustBundlePem);
});

test('no roots yet to check the control plane with: the first certificate is requested as soon as the bundle is mounted', async () => {
  const root = join(dir, 'late-bundle-volume');
  const watcher = new TrustBundleWatcher({ path: join(root, 'ca.crt'), logger, pollIntervalMs: 50, debounceMs: 20 });
  cleanups.push(() => watcher.stop());
  await watcher.start();
  // A backoff far longer than the test: only the bundle's arrival can explain a quick success.
  const api = identity(API, 'api.token', { trustBundle: watcher, controlPlaneRootsPem: undefined, backoff: { initialMs: 60_000, maxMs: 60_000 } });
  const started = api.start();
  await waitFor('the first failure', () => api.status().consecutiveFailures === 1);
  assert.match(api.status().lastError ?? '', /no roots to verify the control plane/);
  publishBundle(root, 1, controlPlaneRoots);
  const material = await started;
  assert.equal(material.spiffeId, API);
  assert.equal(api.status().trustBundleSource, 'file');
});

test('scheduled renewal: with a fraction of 0.05 a 60 s certificate is renewed by the timer after about 3 s', async () => {
  const web = identity(WEB, 'web.token', { ttlSeconds: 60, renewal: { fraction: 0.05 } });
  const first = await web.start();
  const due = web.status().nextAttempt!.getTime() - Date.now();
  assert.ok(due > 2000 && due < 4000, `renewal due in ${due} ms (5 % of 60 s ± 1 %)`);
  const changes: TlsMaterial[] = [];
  web.onChange((material) => changes.push(material));
  await waitFor('the scheduled renewal', () => changes.length === 1, 8000);
  assert.notEqual(changes[0]!.serial, first.serial);
  assert.equal(web.status().renewals.success, 2);

  assert.throws(() => identity(WEB, 'web.token', { renewal: { fraction: 0.5, jitter: 0.6 } }), RangeError);
  assert.throws(() => identity(WEB, 'web.token', { renewal: { fraction: 1 } }), RangeError);
});
