// Outbound → mTLS → inbound on loopback, real sockets and real TLS. The original
// destination iptables would report is faked by a function: the outbound side "sees" the
// app dialling 127.0.0.1:<inbound port>, the inbound side "sees" the app port.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { afterEach, describe, test } from 'node:test';
import { InboundProxy } from '../src/inbound/index.js';
import { OutboundProxy, TargetLoad, dialMtls, meshRouter, pickTarget, staticRouter } from '../src/outbound/index.js';
import type { OriginalDestination } from '../src/outbound/index.js';
import { TlsSessionCache } from '../src/proxy-core/tls-session-cache.js';
import { PROXY_METRIC_NAMES, UNKNOWN_PEER } from '../src/telemetry/proxy-metrics.js';
import {
  EchoClient,
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
  startTap,
  testMetrics,
} from './support/tls-fixtures.js';
import type { EchoServer, TestMetrics } from './support/tls-fixtures.js';

const CLIENT_ID = spiffeId('shop', 'frontend');
const SERVER_ID = spiffeId('shop', 'web');

/** The full label set of an outbound failure series. StaticMeshView.meshed() names a pod's workload after its IP, in namespace 'test'. */
function outboundFailure(reason: string, peer: string, destination = { workload: '127.0.0.1', namespace: 'test' }): Record<string, string> {
  return {
    direction: 'outbound',
    reason,
    peer_identity: peer,
    local_identity: CLIENT_ID,
    destination_workload: destination.workload,
    destination_namespace: destination.namespace,
  };
}

const ca = TestCa.create();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface ServerSide {
  readonly app: EchoServer;
  readonly inbound: InboundProxy;
  readonly identity: ManualTlsIdentity;
  readonly telemetry: TestMetrics;
  readonly port: number;
  readonly clients: (string | undefined)[];
}

async function serverSide(host = '127.0.0.1', view = new StaticMeshView()): Promise<ServerSide> {
  const app = await startEchoServer();
  const identity = new ManualTlsIdentity(ca.issue(SERVER_ID).material);
  const telemetry = testMetrics();
  const clients: (string | undefined)[] = [];
  const inbound = new InboundProxy({
    policy: view,
    identity,
    metrics: telemetry.metrics,
    logger: silentLogger(),
    resolveOriginalDestination: () => ({ port: app.port }),
    onConnection: (event) => clients.push(event.clientIdentity),
  });
  const { port } = await inbound.listen(0, host);
  cleanups.push(() => app.close(), () => inbound.close());
  return { app, inbound, identity, telemetry, port, clients };
}

interface ClientSide {
  readonly outbound: OutboundProxy;
  readonly identity: ManualTlsIdentity;
  readonly telemetry: TestMetrics;
  readonly port: number;
  readonly view: StaticMeshView;
}

async function clientSide(destination: () => OriginalDestination, view = new StaticMeshView(), options: { unmeshed?: 'passthrough' | 'refuse' } = {}): Promise<ClientSide> {
  const identity = new ManualTlsIdentity(ca.issue(CLIENT_ID).material);
  const telemetry = testMetrics({ localIdentity: CLIENT_ID });
  const outbound = new OutboundProxy({
    router: meshRouter({ meshView: view, resolveOriginalDestination: destination, ...options }),
    identity,
    metrics: telemetry.metrics,
    logger: silentLogger(),
  });
  const { port } = await outbound.listen(0, '127.0.0.1');
  cleanups.push(() => outbound.close());
  return { outbound, identity, telemetry, port, view };
}

describe('outbound → mTLS → inbound', () => {
  test('a plaintext request round-trips through both sidecars; the middle hop carries only TLS 1.3 records', async () => {
    const server = await serverSide();
    const tap = await startTap(server.port);
    cleanups.push(() => tap.close());
    const view = new StaticMeshView().meshed('127.0.0.1', SERVER_ID);
    const client = await clientSide(() => ({ address: '127.0.0.1', port: tap.port }), view);

    const payload = 'GET /secret-plaintext-marker HTTP/1.0\r\n\r\n'.repeat(50);
    const { data, error } = await exchange(client.port, payload);
    assert.equal(error, undefined);
    assert.equal(data.toString(), payload, 'the app echoed the request back through both sidecars');
    assert.equal(server.app.accepted, 1);
    assert.deepEqual(server.clients, [CLIENT_ID], 'the server side saw the client SPIFFE ID');

    const wire = tap.bytes();
    assert.ok(wire.length > payload.length, 'the request and the echo crossed the tap');
    assert.equal(wire.indexOf('secret-plaintext-marker'), -1, 'no plaintext on the mesh hop');
    assert.equal(wire[0], 0x16, 'the hop opens with a TLS handshake record');
    // Every record after the hellos is application_data (0x17) with legacy version 0x0303.
    assert.ok(wire.includes(Buffer.from([0x17, 0x03, 0x03])));

    await eventually(async () => (await client.telemetry.sum(PROXY_METRIC_NAMES.connectionsClosed)) === 1, 2000, 'outbound close counted');
    assert.equal(await client.telemetry.sum(PROXY_METRIC_NAMES.connectionsOpened, { direction: 'outbound', tls: 'mtls', peer_identity: SERVER_ID }), 1);
    assert.equal(await client.telemetry.sum(PROXY_METRIC_NAMES.connectionsOpen), 0);
    assert.equal(await client.telemetry.sum(PROXY_METRIC_NAMES.sentBytes, { direction: 'outbound' }), payload.length);
    assert.equal(await client.telemetry.sum(PROXY_METRIC_NAMES.receivedBytes, { direction: 'outbound' }), payload.length);
    assert.equal(await client.telemetry.histogramCount(PROXY_METRIC_NAMES.handshakeDuration, { direction: 'outbound' }), 1);
    await eventually(async () => (await server.telemetry.sum(PROXY_METRIC_NAMES.connectionsClosed, { direction: 'inbound', peer_identity: CLIENT_ID })) === 1);
  });

  test('a TLS 1.2-only client is refused by the inbound side', async () => {
    const server = await serverSide();
    const material = ca.issue(CLIENT_ID);
    const socket = connectTls({
      host: '127.0.0.1',
      port: server.port,
      key: material.keyPem,
      cert: material.chainPem,
      ca: ca.trustBundlePem,
      maxVersion: 'TLSv1.2',
      ALPNProtocols: ['reseal/1'],
      checkServerIdentity: () => undefined,
    });
    const [error] = (await once(socket, 'error').catch((e: unknown) => [e])) as [Error & { code?: string }];
    assert.match(String(error.code), /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|ECONNRESET/);
    await eventually(async () => (await server.telemetry.sum(PROXY_METRIC_NAMES.handshakeFailures, { direction: 'inbound', reason: 'protocol_version' })) === 1);
    assert.equal(server.app.accepted, 0);
  });

  test('a server that is not the expected identity fails the handshake; the failure is counted and nothing is relayed', async () => {
    const server = await serverSide();
    const view = new StaticMeshView().meshed('127.0.0.1', spiffeId('shop', 'payments'));
    const client = await clientSide(() => ({ address: '127.0.0.1', port: server.port }), view);
    const { data } = await exchange(client.port, 'hello');
    assert.equal(data.length, 0);
    assert.equal(await client.telemetry.sum(PROXY_METRIC_NAMES.handshakeFailures, { direction: 'outbound', reason: 'identity_mismatch' }), 1);
    // The destination the app tried to reach, and the identity it was expected to prove.
    assert.deepEqual(await client.telemetry.attributeSets(PROXY_METRIC_NAMES.handshakeFailures), [outboundFailure('identity_mismatch', spiffeId('shop', 'payments'))]);
    assert.equal(await client.telemetry.sum(PROXY_METRIC_NAMES.connectionsOpened), 0);
    assert.equal(server.app.accepted, 0);
  });

  test('a server with a certificate from another CA is refused', async () => {
    const other = TestCa.create();
    const app = await startEchoServer();
    const rogue = new InboundProxy({
      policy: new StaticMeshView(),
      identity: new ManualTlsIdentity(other.issue(SERVER_ID, { trustBundlePem: ca.trustBundlePem }).material),
      metrics: testMetrics().metrics,
      logger: silentLogger(),
      appPort: app.port,
    });
    const { port } = await rogue.listen(0, '127.0.0.1');
    cleanups.push(() => app.close(), () => rogue.close());
    const client = await clientSide(() => ({ address: '127.0.0.1', port }), new StaticMeshView().meshed('127.0.0.1', SERVER_ID));
    const { data } = await exchange(client.port, 'hello');
    assert.equal(data.length, 0);
    assert.equal(await client.telemetry.sum(PROXY_METRIC_NAMES.handshakeFailures, outboundFailure('untrusted_certificate', SERVER_ID)), 1);
    assert.equal(app.accepted, 0);
  });

  test('an unmeshed destination is passed through as plain TCP, or refused when configured', async () => {
    const app = await startEchoServer();
    cleanups.push(() => app.close());
    const pass = await clientSide(() => ({ address: '127.0.0.1', port: app.port }));
    const through = await exchange(pass.port, 'plain');
    assert.equal(through.data.toString(), 'plain');
    assert.equal(await pass.telemetry.sum(PROXY_METRIC_NAMES.connectionsOpened, { tls: 'plaintext', peer_identity: 'unknown' }), 1);

    // Discovery knows the pod (unmeshed): the denial names it.
    const legacy = new StaticMeshView();
    legacy.endpoints.set('127.0.0.1', { ip: '127.0.0.1', identity: '', meshed: false, namespace: 'legacy', workload: 'mainframe' });
    const refuse = await clientSide(() => ({ address: '127.0.0.1', port: app.port }), legacy, { unmeshed: 'refuse' });
    const refused = await exchange(refuse.port, 'plain');
    assert.equal(refused.data.length, 0);
    assert.equal(await refuse.telemetry.sum(PROXY_METRIC_NAMES.policyDenials, { reason: 'unmeshed_refused' }), 1);
    assert.deepEqual(await refuse.telemetry.attributeSets(PROXY_METRIC_NAMES.policyDenials), [
      outboundFailure('unmeshed_refused', UNKNOWN_PEER, { workload: 'mainframe', namespace: 'legacy' }),
    ]);
    assert.equal(app.accepted, 1);
  });

  test('nothing is forwarded before discovery has synced, nor without an original destination', async () => {
    const app = await startEchoServer();
    cleanups.push(() => app.close());
    const view = new StaticMeshView();
    view.synced = false;
    const client = await clientSide(() => ({ address: '127.0.0.1', port: app.port }), view);
    assert.equal((await exchange(client.port, 'x')).data.length, 0);
    assert.equal(await client.telemetry.sum(PROXY_METRIC_NAMES.connectionFailures, { reason: 'not_synced' }), 1);
    // Refused before any pod was chosen: no destination to name.
    assert.deepEqual(await client.telemetry.attributeSets(PROXY_METRIC_NAMES.connectionFailures), [
      outboundFailure('not_synced', UNKNOWN_PEER, { workload: UNKNOWN_PEER, namespace: UNKNOWN_PEER }),
    ]);

    const lost = await clientSide(() => {
      throw new Error('not redirected');
    });
    assert.equal((await exchange(lost.port, 'x')).data.length, 0);
    assert.equal(await lost.telemetry.sum(PROXY_METRIC_NAMES.connectionFailures, { reason: 'no_original_destination' }), 1);
    assert.equal(app.accepted, 0);
  });

  test('a dead upstream is a counted connect failure, and the app connection is reset', async () => {
    const app = await startEchoServer();
    const deadPort = app.port;
    await app.close();
    const client = await clientSide(() => ({ address: '127.0.0.1', port: deadPort }), new StaticMeshView().meshed('127.0.0.1', SERVER_ID));
    const result = await exchange(client.port, 'x');
    assert.equal(result.data.length, 0);
    assert.equal(await client.telemetry.sum(PROXY_METRIC_NAMES.connectionFailures, { direction: 'outbound', reason: 'connect_refused' }), 1);
    assert.deepEqual(await client.telemetry.attributeSets(PROXY_METRIC_NAMES.connectionFailures), [outboundFailure('connect_refused', SERVER_ID)]);
  });

  test('a Service cluster IP is balanced over its endpoints by open connections', async () => {
    const hosts = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
    const view = new StaticMeshView();
    const servers: ServerSide[] = [];
    for (const host of hosts) {
      const server = await serverSide(host);
      servers.push(server);
      view.meshed(host, SERVER_ID);
    }
    view.service('10.96.0.10', 80, hosts.map((ip, i) => ({ ip, port: servers[i]!.port, ready: true })));
    // An endpoint that is not ready never gets a connection.
    view.services.get('10.96.0.10|80')!.push({ ip: '127.0.0.5', port: 1, ready: false });
    const client = await clientSide(() => ({ address: '10.96.0.10', port: 80 }), view);

    const clients: EchoClient[] = [];
    for (let i = 0; i < 30; i++) {
      const c = await EchoClient.connect(client.port);
      clients.push(c);
      assert.equal(await c.echo(`ping ${i}`), `ping ${i}`);
    }
    cleanups.push(() => clients.forEach((c) => c.close()));
    const spread = servers.map((s) => s.inbound.openConnections);
    assert.equal(spread.reduce((a, b) => a + b, 0), 30);
    for (const n of spread) assert.ok(n >= 7 && n <= 13, `connections spread evenly over the endpoints: ${spread.join(', ')}`);
  });

  test('a rotation keeps open connections and serves new ones with the new certificates', async () => {
    const server = await serverSide();
    const view = new StaticMeshView().meshed('127.0.0.1', SERVER_ID);
    const client = await clientSide(() => ({ address: '127.0.0.1', port: server.port }), view);

    const longLived = await EchoClient.connect(client.port);
    cleanups.push(() => longLived.close());
    assert.equal(await longLived.echo('before'), 'before');

    const serverSerialBefore = server.identity.current()!.serial;
    server.identity.rotate(ca.issue(SERVER_ID).material);
    client.identity.rotate(ca.issue(CLIENT_ID).material);
    assert.notEqual(server.identity.current()!.serial, serverSerialBefore);

    assert.equal(await longLived.echo('after rotation'), 'after rotation', 'the open connection carries on');
    const fresh = await exchange(client.port, 'new connection');
    assert.equal(fresh.data.toString(), 'new connection');

    // A direct mesh client sees the new server certificate.
    const probe = ca.issue(CLIENT_ID);
    const tls = connectTls({
      host: '127.0.0.1',
      port: server.port,
      secureContext: probe.material.secureContext,
      ALPNProtocols: ['reseal/1'],
      checkServerIdentity: () => undefined,
    });
    await once(tls, 'secureConnect');
    assert.equal(tls.getPeerCertificate().serialNumber.toUpperCase(), server.identity.current()!.serial.toUpperCase());
    tls.destroy();
    assert.equal(await longLived.echo('still there'), 'still there');
  });

  test('half-close: the request is followed by FIN and the whole answer still arrives', async () => {
    const server = await serverSide();
    const client = await clientSide(() => ({ address: '127.0.0.1', port: server.port }), new StaticMeshView().meshed('127.0.0.1', SERVER_ID));
    const big = Buffer.alloc(512 * 1024, 'x');
    const { data, error } = await exchange(client.port, big);
    assert.equal(error, undefined);
    assert.equal(data.length, big.length);
  });

  test('bulk data in both directions arrives intact through a slow reader (backpressure, buffer reuse)', async () => {
    const server = await serverSide();
    const client = await clientSide(() => ({ address: '127.0.0.1', port: server.port }), new StaticMeshView().meshed('127.0.0.1', SERVER_ID));
    const payload = randomBytes(6 * 1024 * 1024);
    const socket = connectTcp({ host: '127.0.0.1', port: client.port, allowHalfOpen: true });
    const received: Buffer[] = [];
    let receivedBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      receivedBytes += chunk.length;
      // A slow reader: the echo app, both sidecars and the writer all have to wait.
      socket.pause();
      setTimeout(() => socket.resume(), 1);
    });
    await once(socket, 'connect');
    for (let offset = 0; offset < payload.length; offset += 100_000) {
      if (!socket.write(payload.subarray(offset, offset + 100_000))) await once(socket, 'drain');
    }
    socket.end();
    await closed(socket);
    assert.equal(receivedBytes, payload.length);
    assert.equal(createHash('sha256').update(Buffer.concat(received)).digest('hex'), createHash('sha256').update(payload).digest('hex'));
  });

  test('shutdown stops accepting and drains open connections', async () => {
    const server = await serverSide();
    const client = await clientSide(() => ({ address: '127.0.0.1', port: server.port }), new StaticMeshView().meshed('127.0.0.1', SERVER_ID));
    const open = await EchoClient.connect(client.port);
    assert.equal(await open.echo('x'), 'x');
    const closing = client.outbound.close(100);
    await closing;
    await eventually(() => open.socket.destroyed, 2000, 'the open connection aborted after the grace period');
    assert.equal(client.outbound.openConnections, 0);
  });
});

describe('dialMtls session resumption', () => {
  test('resumes per destination and identity, and not across a rotation of the local material', async () => {
    const server = await serverSide();
    const sessions = new TlsSessionCache();
    let material = ca.issue(CLIENT_ID).material;
    const dial = () =>
      new Promise<{ resumed: boolean; socket: Socket }>((resolve, reject) => {
        dialMtls({ host: '127.0.0.1', port: server.port, identity: SERVER_ID, material, sessions, timeoutMs: 5000 }, (failure, success) => {
          if (failure) reject(failure.error);
          else resolve(success!);
        });
      });
    const first = await dial();
    assert.equal(first.resumed, false);
    await eventually(() => sessions.size === 1, 2000, 'a ticket stored');
    first.socket.destroy();
    const second = await dial();
    assert.equal(second.resumed, true, 'the second connection resumes');
    await eventually(() => server.clients.length === 2, 2000, 'both connections accepted');
    second.socket.destroy();
    assert.deepEqual(server.clients, [CLIENT_ID, CLIENT_ID], 'the server knows the client identity on a resumed session too');

    material = ca.issue(CLIENT_ID).material;
    const third = await dial();
    assert.equal(third.resumed, false, 'new material: full handshake');
    third.socket.destroy();
    await delay(10);
  });
});

describe('power of two choices', () => {
  test('prefers the less loaded of two distinct draws and skips targets that are not ready', () => {
    const targets = [
      { ip: '10.0.0.1', port: 80, ready: true },
      { ip: '10.0.0.2', port: 80, ready: true },
      { ip: '10.0.0.3', port: 80, ready: false },
    ];
    const load = new TargetLoad();
    load.acquire('10.0.0.1', 80);
    const draws = [0, 0]; // first draw 10.0.0.1, second (from the rest) 10.0.0.2
    let i = 0;
    assert.equal(pickTarget(targets, load, () => draws[i++ % 2]!)?.ip, '10.0.0.2');
    load.release('10.0.0.1', 80);
    assert.equal(load.count('10.0.0.1', 80), 0);
    assert.equal(pickTarget([targets[2]!], load), undefined);
    assert.equal(pickTarget([targets[1]!, targets[2]!], load)?.ip, '10.0.0.2');
    for (let n = 0; n < 200; n++) {
      const picked = pickTarget(targets, load)!;
      assert.notEqual(picked.ip, '10.0.0.3');
    }
  });

  test('a static router always names its one destination', () => {
    const router = staticRouter({ host: 'peer', port: 15006, identity: SERVER_ID });
    assert.deepEqual(router.route({} as Socket, new TargetLoad()), { kind: 'mtls', host: 'peer', port: 15006, identity: SERVER_ID });
  });
});
