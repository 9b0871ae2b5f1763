// The pure parts: reading Prometheus text and stub_status, the status page's edges (marked
// from counters, never from the topology alone), and the demo's verdict.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTopology } from '@reseal/control-plane/src/discovery/standalone-topology.js';
import { buildStatusSnapshot, parsePrometheusText, parseStubStatus, type SidecarScrape } from '@reseal/control-plane/src/status-page/index.js';
import { viewOf } from '../src/mesh-counters.js';
import { decideVerdict } from '../src/verdict.js';

const GW = 'spiffe://cluster.local/ns/edge/sa/gateway';
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const metrics = (lines: string[]) => parsePrometheusText(['# HELP x y', '# TYPE x counter', ...lines].join('\n'));
const scrape = (at: number, lines: string[]): SidecarScrape => ({ at, ok: true, samples: metrics(lines), identity: { spiffeId: '', serial: 'AB', notAfter: new Date(at + 30_000).toISOString(), renewals: { success: 2, failure: 0 }, nextRenewal: undefined } });

test('Prometheus text and stub_status', () => {
  const samples = parsePrometheusText('a_total{direction="in",peer="x\\"y"} 3\nb 1.5 1700000000\n# c\nbad line\n');
  assert.deepEqual(samples, [
    { name: 'a_total', labels: { direction: 'in', peer: 'x"y' }, value: 3 },
    { name: 'b', labels: {}, value: 1.5 },
  ]);
  assert.equal(parseStubStatus('Active connections: 1 \nserver accepts handled requests\n 16 16 31 \nReading: 0 Writing: 1 Waiting: 0 \n'), 31);
  assert.equal(parseStubStatus('nope'), undefined);
});

test('edges come from the sidecars counters: mTLS marked encrypted with a rate, plaintext between pods is not', () => {
  const topology = parseTopology({
    pods: [
      { namespace: 'edge', name: 'gateway-0', ip: '127.0.0.1', serviceAccount: 'gateway' },
      { namespace: 'shop', name: 'web-0', ip: '127.0.0.1', serviceAccount: 'web' },
    ],
  });
  const opened = (direction: string, peer: string, tls: string, n: number) => `reseal_proxy_connections_opened_total{direction="${direction}",peer_identity="${peer}",tls="${tls}"} ${n}`;
  const snapshot = buildStatusSnapshot({
    now: 20_000,
    trustDomain: 'cluster.local',
    ca: { rootNotAfter: new Date(1e12), issuerNotAfter: new Date(1e12) },
    topology,
    targets: { sidecars: [{ pod: 'edge/gateway-0', adminUrl: 'http://a' }, { pod: 'shop/web-0', adminUrl: 'http://b' }], entrypoints: [] },
    sidecars: new Map([
      ['edge/gateway-0', { first: scrape(0, [opened('outbound', WEB, 'mtls', 10)]), last: scrape(10_000, [opened('outbound', WEB, 'mtls', 60)]) }],
      ['shop/web-0', { first: scrape(0, [opened('inbound', GW, 'mtls', 10)]), last: scrape(10_000, [opened('inbound', GW, 'mtls', 60), opened('inbound', 'unknown', 'plaintext', 1)]) }],
    ]),
    entrypoints: new Map(),
    issued: [],
    issuedTotal: 4,
  });
  const mesh = snapshot.edges.filter((e) => e.kind === 'mesh');
  const mtls = mesh.find((e) => e.encrypted);
  assert.equal(mtls?.from, 'edge/gateway-0/sidecar');
  assert.equal(mtls?.to, 'shop/web-0/sidecar');
  assert.equal(mtls?.connectionsPerSecond, 5);
  assert.match(mtls?.evidence ?? '', /counted 60 inbound connections tls="mtls"/);
  const plain = mesh.find((e) => !e.encrypted);
  assert.equal(plain?.protection, 'PLAINTEXT between pods');
  assert.equal(snapshot.edges.filter((e) => e.kind === 'loopback').length, 2);
  assert.equal(snapshot.workloads[0]?.certificate?.expiresInSeconds, 20);
});

test('the verdict needs every request answered and one mTLS connection per request, with no plaintext', () => {
  const opened = (direction: string, peer: string, tls: string, n: number) => `reseal_proxy_connections_opened_total{direction="${direction}",peer_identity="${peer}",tls="${tls}"} ${n}`;
  const client = { sent: 10, ok: 10, failed: 0, tlsVersions: { 'TLSv1.3': 10 }, lastError: undefined, firstAnswer: undefined };
  const app = { requests: 10, connections: 10, remoteAddresses: ['127.0.0.1'] };
  const gateway = viewOf(scrape(0, [opened('outbound', WEB, 'mtls', 10)]));
  const good = decideVerdict({ client, app, gateway, web: viewOf(scrape(0, [opened('inbound', GW, 'mtls', 10)])), gatewayId: GW, webId: WEB });
  assert.equal(good.pass, true, good.failures.join('\n'));
  const plaintext = decideVerdict({ client, app: { ...app, connections: 11 }, gateway, web: viewOf(scrape(0, [opened('inbound', GW, 'mtls', 10), opened('inbound', 'unknown', 'plaintext', 1)])), gatewayId: GW, webId: WEB });
  assert.equal(plaintext.pass, false);
  assert.match(plaintext.failures.join('\n'), /1 plaintext/);
  const failed = decideVerdict({ client: { ...client, ok: 9, failed: 1 }, app: { ...app, requests: 9 }, gateway, web: viewOf(scrape(0, [opened('inbound', GW, 'mtls', 10)])), gatewayId: GW, webId: WEB });
  assert.equal(failed.pass, false);
});
