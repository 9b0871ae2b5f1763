// Label cardinality stays bounded whatever the traffic: peer identities and destination
// workloads beyond their caps become "other", HTTP methods outside the known set become
// _OTHER, and every connection series carries the local identity.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HTTP_METRIC_NAMES, HttpTelemetry } from '../src/telemetry/http-telemetry.js';
import { OTHER_PEER, PROXY_METRIC_NAMES, UNKNOWN_PEER } from '../src/telemetry/proxy-metrics.js';
import { BoundedValues } from '../src/telemetry/bounded-values.js';
import { spiffeId, testMetrics } from './support/tls-fixtures.js';

const LOCAL = spiffeId('shop', 'web');

describe('label cardinality', () => {
  test('peer identities beyond the cap are reported as "other"; empty is "unknown"', async () => {
    const t = testMetrics({ maxPeerIdentities: 3, localIdentity: LOCAL });
    for (let i = 0; i < 10; i++) {
      const labels = t.metrics.connectionLabels('inbound', spiffeId('ns', `sa${i}`), 'mtls');
      t.metrics.connectionOpened(labels);
      t.metrics.connectionClosed(labels, 0.01);
    }
    t.metrics.connectionOpened(t.metrics.connectionLabels('inbound', '', 'plaintext'));
    assert.equal(await t.sum(PROXY_METRIC_NAMES.connectionsOpened, { peer_identity: OTHER_PEER }), 7);
    assert.equal(await t.sum(PROXY_METRIC_NAMES.connectionsOpened, { peer_identity: spiffeId('ns', 'sa0') }), 1);
    assert.equal(await t.sum(PROXY_METRIC_NAMES.connectionsOpened, { peer_identity: UNKNOWN_PEER, tls: 'plaintext' }), 1);
    assert.equal(await t.sum(PROXY_METRIC_NAMES.connectionsOpened, { local_identity: LOCAL }), 11);
    assert.equal(await t.histogramCount(PROXY_METRIC_NAMES.connectionDuration, { peer_identity: OTHER_PEER, local_identity: LOCAL }), 7);
    // A denial from a new identity past the cap is "other" too.
    t.metrics.policyDenied({ direction: 'inbound', peerIdentity: spiffeId('evil', 'x') }, 'not_allowed');
    assert.equal(await t.sum(PROXY_METRIC_NAMES.policyDenials, { peer_identity: OTHER_PEER }), 1);
  });

  test('destinations: outbound from discovery, inbound the local workload, capped as a namespace/workload pair', async () => {
    const t = testMetrics({ maxDestinations: 2, localIdentity: LOCAL, localWorkload: () => ({ workload: 'web', namespace: 'shop' }) });
    const inbound = t.metrics.connectionLabels('inbound', spiffeId('shop', 'frontend'), 'mtls');
    assert.deepEqual([inbound.destinationWorkload, inbound.destinationNamespace, inbound.localIdentity], ['web', 'shop', LOCAL]);
    const a = t.metrics.connectionLabels('outbound', spiffeId('db', 'pg'), 'mtls', { workload: 'pg', namespace: 'db' });
    assert.deepEqual([a.destinationWorkload, a.destinationNamespace], ['pg', 'db']);
    const c = t.metrics.connectionLabels('outbound', spiffeId('x', 'y'), 'mtls', { workload: 'y', namespace: 'x' });
    assert.deepEqual([c.destinationWorkload, c.destinationNamespace], [OTHER_PEER, OTHER_PEER]);
    const unknown = t.metrics.connectionLabels('outbound', '', 'plaintext');
    assert.deepEqual([unknown.destinationWorkload, unknown.destinationNamespace], [UNKNOWN_PEER, UNKNOWN_PEER]);
    assert.equal(t.metrics.connectionLabels('outbound', spiffeId('db', 'pg'), 'mtls', { workload: 'pg', namespace: 'db' }), a, 'label sets are interned');
  });

  test('failure counters carry the destination and peer labels of connections, under the same caps', async () => {
    const t = testMetrics({ maxDestinations: 2, maxPeerIdentities: 1, localIdentity: LOCAL, localWorkload: () => ({ workload: 'web', namespace: 'shop' }) });
    const failure = (direction: 'inbound' | 'outbound', peer: string, namespace: string, workload: string, reason: string) => ({
      direction,
      reason,
      peer_identity: peer,
      local_identity: LOCAL,
      destination_namespace: namespace,
      destination_workload: workload,
    });
    // Inbound: the destination is this pod's workload; the peer is unknown until verified.
    t.metrics.handshakeFailed({ direction: 'inbound' }, 'no_certificate');
    t.metrics.policyDenied({ direction: 'inbound', peerIdentity: spiffeId('shop', 'intruder') }, 'not_allowed');
    // Outbound: the destination from discovery (the second and last slot of the cap), the expected peer past its cap.
    t.metrics.handshakeFailed({ direction: 'outbound', peerIdentity: spiffeId('db', 'pg'), destination: { workload: 'pg', namespace: 'db' } }, 'identity_mismatch');
    t.metrics.connectionFailed({ direction: 'outbound', destination: { workload: 'cache', namespace: 'db' } }, 'connect_refused');
    t.metrics.connectionFailed({ direction: 'outbound', peerIdentity: '' }, 'not_synced');
    assert.deepEqual(await t.attributeSets(PROXY_METRIC_NAMES.handshakeFailures), [
      failure('inbound', UNKNOWN_PEER, 'shop', 'web', 'no_certificate'),
      failure('outbound', OTHER_PEER, 'db', 'pg', 'identity_mismatch'),
    ]);
    assert.deepEqual(await t.attributeSets(PROXY_METRIC_NAMES.policyDenials), [failure('inbound', spiffeId('shop', 'intruder'), 'shop', 'web', 'not_allowed')]);
    assert.deepEqual(await t.attributeSets(PROXY_METRIC_NAMES.connectionFailures), [
      failure('outbound', UNKNOWN_PEER, OTHER_PEER, OTHER_PEER, 'connect_refused'),
      failure('outbound', UNKNOWN_PEER, UNKNOWN_PEER, UNKNOWN_PEER, 'not_synced'),
    ]);
    // One cap for both: a destination or peer keeps the same label value on success and failure series.
    const pg = t.metrics.connectionLabels('outbound', spiffeId('db', 'pg'), 'mtls', { workload: 'pg', namespace: 'db' });
    assert.deepEqual([pg.destinationWorkload, pg.destinationNamespace, pg.peerIdentity], ['pg', 'db', OTHER_PEER]);
    const cache = t.metrics.connectionLabels('outbound', '', 'plaintext', { workload: 'cache', namespace: 'db' });
    assert.deepEqual([cache.destinationWorkload, cache.destinationNamespace], [OTHER_PEER, OTHER_PEER]);
    // Repeated failures add to the same series.
    t.metrics.handshakeFailed({ direction: 'inbound' }, 'no_certificate');
    assert.equal(await t.sum(PROXY_METRIC_NAMES.handshakeFailures, { direction: 'inbound', destination_workload: 'web' }), 2);
  });

  test('HTTP attributes: unknown methods are _OTHER, status codes are numbers, peers are capped', async () => {
    const t = testMetrics({ maxPeerIdentities: 1, localIdentity: LOCAL });
    const http = new HttpTelemetry(t.httpDurations, t.metrics, { opaquePorts: [5432] });
    const feed = (peer: string, method: string, status: number) => {
      const observer = http.observe({ labels: t.metrics.connectionLabels('inbound', peer, 'mtls'), port: 8080, peerAddress: '10.0.0.1' })!;
      observer.fromPeer(Buffer.from(`${method} / HTTP/1.1\r\n\r\n`));
      observer.fromLocal(Buffer.from(`HTTP/1.1 ${status} X\r\nContent-Length: 0\r\n\r\n`));
    };
    feed(spiffeId('a', 'a'), 'GET', 200);
    feed(spiffeId('b', 'b'), 'GET', 200);
    for (const method of ['BREW', 'PROPFIND', 'X-CUSTOM']) feed(spiffeId('a', 'a'), method, 418);
    feed(spiffeId('a', 'a'), 'PATCH', 503);
    assert.equal(await t.histogramCount(HTTP_METRIC_NAMES.serverDuration, { 'http.request.method': 'GET', peer_identity: spiffeId('a', 'a') }), 1);
    assert.equal(await t.histogramCount(HTTP_METRIC_NAMES.serverDuration, { 'http.request.method': 'GET', peer_identity: OTHER_PEER }), 1);
    assert.equal(await t.histogramCount(HTTP_METRIC_NAMES.serverDuration, { 'http.request.method': '_OTHER' }), 3);
    assert.equal(await t.histogramCount(HTTP_METRIC_NAMES.serverDuration, { 'http.request.method': 'PATCH' }), 1);
    assert.equal(await t.histogramCount(HTTP_METRIC_NAMES.clientDuration), 0, 'inbound records the server histogram only');
    assert.equal(http.observe({ labels: t.metrics.connectionLabels('inbound', '', 'plaintext'), port: 5432, peerAddress: '' }), undefined);
    assert.equal(await t.sum(PROXY_METRIC_NAMES.protocolDetections, { protocol: 'opaque_port' }), 1);
    assert.equal(await t.sum(PROXY_METRIC_NAMES.protocolDetections, { protocol: 'http1', direction: 'inbound' }), 6);
  });

  test('BoundedValues admits the first N values, forever', () => {
    const values = new BoundedValues(2, 'other');
    assert.deepEqual(['a', 'b', 'c', 'a', 'd', 'b'].map((v) => values.admit(v)), ['a', 'b', 'other', 'a', 'other', 'b']);
    assert.equal(values.size, 2);
  });
});

