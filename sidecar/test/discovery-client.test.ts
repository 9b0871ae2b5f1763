// The discovery client against an in-process Discovery server (the real one is exercised in
// control-plane/test/discovery-kubernetes.test.ts): TLS with the workload's SecureContext,
// reconnection with fresh credentials, state kept while disconnected, refusals retried.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { discoveryServiceDefinition, generateWorkloadKeyPair, type DiscoveryHandlers, type WatchRequest, type WatchResponse } from '@reseal/core';
import { pino } from 'pino';
import { DiscoveryClient } from '../src/discovery-client/index.js';
import { spiffeId, TestCa } from './support/tls-fixtures.js';

const SERVER_NAME = 'reseal-control-plane.reseal-system.svc';
const WEB = spiffeId('shop', 'web');
const logger = pino({ level: process.env['RESEAL_TEST_LOG'] ?? 'silent' });

interface SeenCall {
  request: WatchRequest;
  authorization: string | undefined;
  peerCertificate: boolean;
  call: grpc.ServerWritableStream<WatchRequest, WatchResponse>;
}

let ca: TestCa;
let server: grpc.Server;
let port: number;
const calls: SeenCall[] = [];
let behaviour: (seen: SeenCall) => void = () => undefined;

function snapshot(version: number, ips: string[]): WatchResponse {
  return {
    fullSnapshot: true,
    endpoints: ips.map((ip) => ({ ip, identity: WEB, meshed: true, namespace: 'shop', podName: `pod-${ip}`, workload: 'web' })),
    removedEndpoints: [],
    services: [],
    removedServices: [],
    inboundPolicy: { mtlsMode: 'STRICT', restricted: false, rules: [] },
    trustBundlePem: ca.trustBundlePem,
    version,
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  ca = TestCa.create();
  const key = generateWorkloadKeyPair();
  const serving = ca.ca.issueServingCertificate({ publicKey: key.publicKey, dnsNames: [SERVER_NAME], spiffeId: spiffeId('reseal-system', 'reseal-control-plane'), ttlSeconds: 3600 });
  server = new grpc.Server();
  const handlers: DiscoveryHandlers = {
    watch: (call) => {
      const authorization = call.metadata.get('authorization')[0];
      const seen: SeenCall = {
        request: call.request,
        authorization: typeof authorization === 'string' ? authorization : undefined,
        peerCertificate: !!call.getAuthContext()?.sslPeerCertificate?.raw,
        call,
      };
      calls.push(seen);
      behaviour(seen);
    },
  };
  server.addService(discoveryServiceDefinition(), handlers);
  // Like the control plane: client certificates requested (and verified when sent) but optional.
  const provider: grpc.experimental.CertificateProvider = {
    addCaCertificateListener: (listener) => queueMicrotask(() => listener({ caCertificate: Buffer.from(ca.trustBundlePem) })),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (listener) =>
      queueMicrotask(() => listener({ certificate: Buffer.from(serving.chainPem), privateKey: Buffer.from(key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string) })),
    removeIdentityCertificateListener: () => undefined,
  };
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
  port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))));
});

after(() => {
  server.forceShutdown();
});

test('connects with the workload certificate and token, applies snapshot and deltas, keeps state across a reconnect', async () => {
  calls.length = 0;
  let credentialReads = 0;
  const workload = ca.issue(WEB);
  behaviour = ({ call }) => {
    call.write(snapshot(1, calls.length === 1 ? ['10.0.0.1'] : ['10.0.0.1', '10.0.0.2']));
  };
  const client = new DiscoveryClient({
    address: `127.0.0.1:${port}`,
    serverName: SERVER_NAME,
    pod: { namespace: 'shop', name: 'web-0', ip: '10.0.0.1' },
    credentials: () => {
      credentialReads++;
      return { trustBundlePem: ca.trustBundlePem, clientCertificate: { secureContext: workload.material.secureContext }, bearerToken: `token-${credentialReads}` };
    },
    logger,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const changes: boolean[] = [];
  client.onChange((change) => changes.push(change.fullSnapshot));
  client.start();
  try {
    await client.whenSynced(5000);
    assert.deepEqual(calls[0]!.request, { podNamespace: 'shop', podName: 'web-0', podIp: '10.0.0.1' });
    assert.equal(calls[0]!.authorization, 'Bearer token-1');
    assert.equal(calls[0]!.peerCertificate, true, 'the mesh certificate was presented');
    assert.equal(client.state.endpoint('10.0.0.1')?.identity, WEB);
    assert.equal(client.connected, true);

    calls[0]!.call.write({ ...snapshot(2, []), fullSnapshot: false, removedEndpoints: ['10.0.0.1'], endpoints: [], trustBundlePem: '' });
    await until('delta applied', () => client.state.endpoint('10.0.0.1') === undefined);

    // The control plane goes away: the state stays, then a fresh snapshot replaces it.
    calls[0]!.call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'control plane shutting down' });
    await until('reconnected', () => calls.length === 2 && client.connected);
    assert.equal(calls[1]!.authorization, 'Bearer token-2', 'credentials are read again for every connection');
    await until('second snapshot', () => client.state.endpoint('10.0.0.2') !== undefined);
    assert.deepEqual(changes, [true, false, true]);
  } finally {
    client.stop();
  }
});

test('a refused watch is retried with backoff and never reports synced', async () => {
  calls.length = 0;
  behaviour = ({ call }) => call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'not your pod' });
  const client = new DiscoveryClient({
    address: `127.0.0.1:${port}`,
    serverName: SERVER_NAME,
    pod: { namespace: 'shop', name: 'db-0' },
    credentials: () => ({ trustBundlePem: ca.trustBundlePem, bearerToken: 't' }),
    logger,
    backoff: { initialMs: 40, maxMs: 80 },
  });
  client.start();
  try {
    await until('several attempts', () => calls.length >= 3);
    assert.equal(client.state.synced, false);
    assert.equal(client.connected, false);
    await assert.rejects(client.whenSynced(100), /not synced/);
  } finally {
    client.stop();
  }
  const attempts = calls.length;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(calls.length <= attempts + 1, 'stop() ends the retries');
});

test('a control plane whose certificate does not chain to the trust bundle is not trusted', async () => {
  calls.length = 0;
  behaviour = ({ call }) => call.write(snapshot(1, ['10.0.0.1']));
  const stranger = TestCa.create();
  let reads = 0;
  const client = new DiscoveryClient({
    address: `127.0.0.1:${port}`,
    serverName: SERVER_NAME,
    pod: { namespace: 'shop', name: 'web-0' },
    credentials: () => {
      reads++;
      return { trustBundlePem: stranger.trustBundlePem, bearerToken: 'secret' };
    },
    logger,
    backoff: { initialMs: 40, maxMs: 80 },
  });
  client.start();
  try {
    await until('a few attempts', () => reads >= 2);
    assert.equal(calls.length, 0, 'the token never reached a server it could not verify');
    assert.equal(client.state.synced, false);
  } finally {
    client.stop();
  }
});
