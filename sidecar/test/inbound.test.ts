// The inbound side on loopback with real TLS: classification of the first bytes, client
// verification, policy before the app is dialled, STRICT/PERMISSIVE, and timeouts that
// close bad connections without disturbing good ones.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as connectTcp, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { afterEach, describe, test } from 'node:test';
import { InboundProxy, MAX_FIRST_BYTES, classifyFirstBytes, offeredAlpn } from '../src/inbound/index.js';
import type { InboundConnectionEvent } from '../src/inbound/index.js';
import { PROXY_METRIC_NAMES, UNKNOWN_PEER } from '../src/telemetry/proxy-metrics.js';
import {
  ManualTlsIdentity,
  StaticMeshView,
  TestCa,
  closed,
  delay,
  eventually,
  exchange,
  silentLogger,
  spiffeId,
  startEchoServer,
  testMetrics,
} from './support/tls-fixtures.js';
import type { EchoServer, TestMetrics } from './support/tls-fixtures.js';

const SERVER_ID = spiffeId('shop', 'web');
const FRONTEND_ID = spiffeId('shop', 'frontend');
const INTRUDER_ID = spiffeId('other', 'intruder');

/** This pod's workload as discovery names it: the destination label of everything inbound. */
const LOCAL_WORKLOAD = { workload: 'web', namespace: 'shop' };
/** The full label set of an inbound failure series: the destination is always this pod's workload. */
function inboundFailure(reason: string, peer = UNKNOWN_PEER): Record<string, string> {
  return { direction: 'inbound', reason, peer_identity: peer, local_identity: SERVER_ID, destination_workload: 'web', destination_namespace: 'shop' };
}

const ca = TestCa.create();
const frontend = ca.issue(FRONTEND_ID);
const intruder = ca.issue(INTRUDER_ID);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Inbound {
  readonly proxy: InboundProxy;
  readonly app: EchoServer;
  readonly view: StaticMeshView;
  readonly telemetry: TestMetrics;
  readonly port: number;
  readonly events: InboundConnectionEvent[];
}

async function startInbound(options: { firstBytesTimeoutMs?: number; handshakeTimeoutMs?: number; mode?: 'STRICT' | 'PERMISSIVE' } = {}): Promise<Inbound> {
  const app = await startEchoServer();
  const view = new StaticMeshView();
  view.mode = options.mode ?? 'STRICT';
  const telemetry = testMetrics({ localIdentity: SERVER_ID, localWorkload: () => LOCAL_WORKLOAD });
  const events: InboundConnectionEvent[] = [];
  const proxy = new InboundProxy({
    policy: view,
    identity: new ManualTlsIdentity(ca.issue(SERVER_ID).material),
    metrics: telemetry.metrics,
    logger: silentLogger(),
    resolveOriginalDestination: () => ({ port: app.port }),
    onConnection: (event) => events.push(event),
    ...(options.firstBytesTimeoutMs === undefined ? {} : { firstBytesTimeoutMs: options.firstBytesTimeoutMs }),
    ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
  });
  const { port } = await proxy.listen(0, '127.0.0.1');
  cleanups.push(() => app.close(), () => proxy.close());
  return { proxy, app, view, telemetry, port, events };
}

/** A mesh client straight to the inbound port (what an outbound sidecar does). */
async function meshClient(port: number, options: Partial<ConnectionOptions> = {}): Promise<TLSSocket> {
  const socket = connectTls({
    host: '127.0.0.1',
    port,
    secureContext: frontend.material.secureContext,
    ALPNProtocols: ['reseal/1'],
    checkServerIdentity: () => undefined,
    ...options,
  });
  socket.on('error', () => {});
  cleanups.push(() => {
    socket.destroy();
  });
  return socket;
}

async function echoOver(socket: Socket, text: string): Promise<string> {
  const chunks: Buffer[] = [];
  const onData = (chunk: Buffer) => chunks.push(chunk);
  socket.on('data', onData);
  socket.write(text);
  await eventually(() => Buffer.concat(chunks).length >= text.length || socket.destroyed, 3000, 'echo');
  socket.removeListener('data', onData);
  return Buffer.concat(chunks).toString();
}

/** The ClientHello a TLS client with `options` sends first (captured by a silent server). */
async function captureClientHello(options: Partial<ConnectionOptions>): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const captured = new Promise<Buffer>((resolve) => server.once('connection', (s: Socket) => s.once('data', resolve)));
  const client = connectTls({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ...options });
  client.on('error', () => {});
  const hello = await captured;
  client.destroy();
  server.close();
  return hello;
}

function rawConnect(port: number): Socket {
  const socket = connectTcp({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  // Read and drop whatever comes back, so the FIN is seen and 'close' follows.
  socket.resume();
  cleanups.push(() => {
    socket.destroy();
  });
  return socket;
}

describe('inbound', () => {
  test('a verified, allowed client reaches the app; its SPIFFE ID is reported and remembered', async () => {
    const inbound = await startInbound();
    const socket = await meshClient(inbound.port);
    await once(socket, 'secureConnect');
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    assert.equal(socket.getCipher().name, 'TLS_AES_128_GCM_SHA256');
    assert.equal(await echoOver(socket, 'hello'), 'hello');
    assert.deepEqual(inbound.events.map((e) => [e.clientIdentity, e.port, e.tls]), [[FRONTEND_ID, inbound.app.port, 'mtls']]);
    assert.equal(inbound.proxy.recentPeers()[0]?.clientIdentity, FRONTEND_ID);
    assert.equal(await inbound.telemetry.histogramCount(PROXY_METRIC_NAMES.handshakeDuration, { direction: 'inbound' }), 1);
  });

  test('a client identity that is not allowed is refused before any byte reaches the app', async () => {
    const inbound = await startInbound();
    inbound.view.allow.set(inbound.app.port, new Set([FRONTEND_ID]));
    const socket = await meshClient(inbound.port, { secureContext: intruder.material.secureContext });
    socket.write('secret request');
    await closed(socket);
    await delay(50);
    assert.equal(inbound.app.accepted, 0, 'the app never saw a connection');
    assert.equal(await inbound.telemetry.sum(PROXY_METRIC_NAMES.policyDenials, { direction: 'inbound', reason: 'not_allowed', peer_identity: INTRUDER_ID }), 1);
    // The denied client is verified: the series names it and the destination it was refused.
    assert.deepEqual(await inbound.telemetry.attributeSets(PROXY_METRIC_NAMES.policyDenials), [inboundFailure('not_allowed', INTRUDER_ID)]);

    const allowed = await meshClient(inbound.port);
    assert.equal(await echoOver(allowed, 'ok'), 'ok');
    assert.equal(inbound.app.accepted, 1);
  });

  test('a client certificate from a foreign CA is refused, even though the TLS layer completes', async () => {
    const inbound = await startInbound();
    const rogue = TestCa.create().issue(FRONTEND_ID, { trustBundlePem: ca.trustBundlePem });
    const socket = await meshClient(inbound.port, { secureContext: rogue.material.secureContext });
    socket.write('x');
    await closed(socket);
    assert.equal(inbound.app.accepted, 0);
    await eventually(async () => (await inbound.telemetry.sum(PROXY_METRIC_NAMES.handshakeFailures, { reason: 'untrusted_certificate' })) === 1);
    // The client's certificate is not trusted, so its identity is not known; the destination is.
    assert.deepEqual(await inbound.telemetry.attributeSets(PROXY_METRIC_NAMES.handshakeFailures), [inboundFailure('untrusted_certificate')]);
  });

  test('a client without a certificate is refused', async () => {
    const inbound = await startInbound();
    const socket = await meshClient(inbound.port, { secureContext: undefined, ca: ca.trustBundlePem, minVersion: 'TLSv1.3' });
    socket.write('x');
    await closed(socket);
    assert.equal(inbound.app.accepted, 0);
    await eventually(async () => (await inbound.telemetry.sum(PROXY_METRIC_NAMES.handshakeFailures, { direction: 'inbound' })) === 1);
    assert.equal(await inbound.telemetry.sum(PROXY_METRIC_NAMES.handshakeFailures, { reason: 'no_certificate' }), 1);
  });

  test('plaintext is refused in STRICT and served in PERMISSIVE', async () => {
    const strict = await startInbound();
    const refused = await exchange(strict.port, 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(refused.data.length, 0);
    assert.equal(strict.app.accepted, 0);
    assert.equal(await strict.telemetry.sum(PROXY_METRIC_NAMES.policyDenials, { reason: 'plaintext_in_strict' }), 1);
    assert.deepEqual(await strict.telemetry.attributeSets(PROXY_METRIC_NAMES.policyDenials), [inboundFailure('plaintext_in_strict')]);

    const permissive = await startInbound({ mode: 'PERMISSIVE' });
    const served = await exchange(permissive.port, 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(served.data.toString(), 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(permissive.events[0]?.tls, 'plaintext');
    assert.equal(permissive.events[0]?.clientIdentity, undefined);
    assert.equal(await permissive.telemetry.sum(PROXY_METRIC_NAMES.connectionsOpened, { direction: 'inbound', tls: 'plaintext' }), 1);

    // Mesh clients are still verified in PERMISSIVE.
    const mesh = await meshClient(permissive.port);
    assert.equal(await echoOver(mesh, 'tls'), 'tls');
    assert.equal(permissive.events[1]?.clientIdentity, FRONTEND_ID);
  });

  test("PERMISSIVE passes an app's own TLS (no reseal/1 ALPN) through untouched; STRICT refuses it", async () => {
    const hello = await captureClientHello({ ALPNProtocols: ['h2', 'http/1.1'], servername: 'shop.example' });
    const permissive = await startInbound({ mode: 'PERMISSIVE' });
    const through = await exchange(permissive.port, hello);
    assert.deepEqual(through.data, hello, 'the app got the ClientHello as is');

    const strict = await startInbound();
    const refused = await exchange(strict.port, hello);
    assert.equal(refused.data.length, 0);
    assert.equal(strict.app.accepted, 0);
  });

  test('PERMISSIVE forwards a client that sends nothing (server-speaks-first) once the first-bytes timeout passes', async () => {
    const inbound = await startInbound({ mode: 'PERMISSIVE', firstBytesTimeoutMs: 150 });
    const socket = rawConnect(inbound.port);
    await once(socket, 'connect');
    await eventually(() => inbound.app.accepted === 1, 2000, 'the app got the connection');
    assert.equal(await echoOver(socket, 'late'), 'late');
  });

  test('garbage, half-open and slow-loris connections are closed by timeouts while a good connection keeps working', async () => {
    const inbound = await startInbound({ firstBytesTimeoutMs: 300, handshakeTimeoutMs: 700 });
    const good = await meshClient(inbound.port);
    assert.equal(await echoOver(good, 'before'), 'before');

    const meshHello = await captureClientHello({ ALPNProtocols: ['reseal/1'], secureContext: frontend.material.secureContext });
    assert.equal(classifyFirstBytes(meshHello), 'mesh_tls');

    const started = Date.now();
    // Garbage: refused at once (STRICT).
    const garbage = rawConnect(inbound.port);
    garbage.write(randomBytes(4096));
    // Garbage that starts like a ClientHello record: refused by the classifier…
    const fakeHello = rawConnect(inbound.port);
    fakeHello.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c]), Buffer.alloc(60, 0xab)]));
    // …or, claiming a ClientHello longer than its record, left to the TLS stack, which waits
    // for the rest until the handshake deadline.
    const splitHello = rawConnect(inbound.port);
    splitHello.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0xff, 0xff]), Buffer.alloc(60, 0xab)]));
    // Half-open: connected, silent.
    const silent = rawConnect(inbound.port);
    // Slow loris 1: the ClientHello a byte at a time, too slowly.
    const dribble = rawConnect(inbound.port);
    let sent = 0;
    const dribbler = setInterval(() => {
      if (!dribble.destroyed && sent < meshHello.length) dribble.write(meshHello.subarray(sent, ++sent));
    }, 50);
    cleanups.push(() => clearInterval(dribbler));
    // Slow loris 2: a whole ClientHello, then never the rest of the handshake.
    const stalled = rawConnect(inbound.port);
    stalled.write(meshHello);

    await Promise.all([garbage, fakeHello, splitHello, silent, dribble, stalled].map((s) => closed(s)));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 600 && elapsed < 3000, `the slowest was closed by the handshake deadline (${elapsed} ms)`);

    assert.equal(await echoOver(good, 'after'), 'after', 'the good connection is untouched');
    assert.equal(inbound.app.accepted, 1);
    assert.equal(await inbound.telemetry.sum(PROXY_METRIC_NAMES.connectionFailures, inboundFailure('first_bytes_timeout')), 2);
    assert.equal(await inbound.telemetry.sum(PROXY_METRIC_NAMES.handshakeFailures, { direction: 'inbound', reason: 'timeout' }), 2);
    assert.equal(await inbound.telemetry.sum(PROXY_METRIC_NAMES.policyDenials, { reason: 'plaintext_in_strict' }), 2);
    assert.equal(inbound.proxy.openConnections, 1);
  });

  test('a client offering reseal/1 among other protocols gets reseal/1', async () => {
    const inbound = await startInbound();
    const socket = await meshClient(inbound.port, { ALPNProtocols: ['http/1.1', 'reseal/1'] });
    assert.equal(await echoOver(socket, 'alpn ok'), 'alpn ok', 'reseal/1 among others is negotiated');
  });

  test('the app being down is a counted failure and the client is closed', async () => {
    const inbound = await startInbound();
    await inbound.app.close();
    const socket = await meshClient(inbound.port);
    await once(socket, 'secureConnect');
    await closed(socket);
    assert.equal(await inbound.telemetry.sum(PROXY_METRIC_NAMES.connectionFailures, { reason: 'app_unreachable' }), 1);
    // After a verified handshake: the client that could not be served, and where to.
    assert.deepEqual(await inbound.telemetry.attributeSets(PROXY_METRIC_NAMES.connectionFailures), [inboundFailure('app_unreachable', FRONTEND_ID)]);
  });
});

describe('first bytes', () => {
  test('classifies ClientHellos by their ALPN, plaintext, and incomplete input', async () => {
    const mesh = await captureClientHello({ ALPNProtocols: ['reseal/1'], secureContext: frontend.material.secureContext });
    const web = await captureClientHello({ ALPNProtocols: ['h2'], servername: 'example.org' });
    const none = await captureClientHello({ servername: 'example.org' });
    assert.equal(classifyFirstBytes(mesh), 'mesh_tls');
    assert.equal(classifyFirstBytes(web), 'foreign_tls');
    assert.equal(classifyFirstBytes(none), 'foreign_tls');
    assert.deepEqual(offeredAlpn(web.subarray(9))?.map((p) => Buffer.from(p).toString()), ['h2']);
    for (let n = 0; n < mesh.length; n++) assert.equal(classifyFirstBytes(mesh.subarray(0, n)), 'need_more', `prefix of ${n} bytes`);
    assert.equal(classifyFirstBytes(Buffer.from('GET / HTTP/1.1\r\n')), 'plaintext');
    assert.equal(classifyFirstBytes(Buffer.from([0x16, 0x02])), 'plaintext');
    assert.equal(classifyFirstBytes(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff])), 'plaintext');
    assert.equal(classifyFirstBytes(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10, 0x02])), 'plaintext');
  });

  test('never throws on mutated or random input, and never asks for more than one record', async () => {
    const mesh = await captureClientHello({ ALPNProtocols: ['reseal/1'], secureContext: frontend.material.secureContext });
    for (let i = 0; i < 3000; i++) {
      const input = Buffer.from(mesh);
      const flips = 1 + (i % 8);
      for (let f = 0; f < flips; f++) input[Math.floor(Math.random() * input.length)] = Math.floor(Math.random() * 256);
      const kind = classifyFirstBytes(input.subarray(0, Math.floor(Math.random() * (input.length + 1))));
      assert.ok(['need_more', 'mesh_tls', 'foreign_tls', 'plaintext'].includes(kind));
      classifyFirstBytes(randomBytes(i % 64));
    }
    const huge = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01]), Buffer.alloc(MAX_FIRST_BYTES)]);
    assert.notEqual(classifyFirstBytes(huge), 'need_more');
  });
});
