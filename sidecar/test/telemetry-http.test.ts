// Telemetry end to end on loopback: an HTTP app behind an inbound sidecar, called through
// an outbound sidecar, each sidecar with its own telemetry as in two pods. Checks what an
// operator would read: the Prometheus text (HTTP duration histograms with method, status
// and peer identity; connection duration with local identity), the spans an OTLP receiver
// gets (one per hop, continuing the caller's trace, the app seeing the inbound span as
// parent), metrics pushed over OTLP, and one log line per connection without key material.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest } from 'node:http';
import { connect as connectTcp, createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import { createTelemetry } from '@reseal/core';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { InboundProxy } from '../src/inbound/index.js';
import { OutboundProxy, meshRouter } from '../src/outbound/index.js';
import { HttpDurationHistograms, HttpTelemetry } from '../src/telemetry/http-telemetry.js';
import { createProxyMetrics } from '../src/telemetry/proxy-metrics.js';
import { attribute, startOtlpReceiver } from './support/otlp-receiver.js';
import { prometheusText } from './support/prometheus-text.js';
import { ManualTlsIdentity, StaticMeshView, TestCa, eventually, spiffeId } from './support/tls-fixtures.js';

const CLIENT_ID = spiffeId('shop', 'frontend');
const SERVER_ID = spiffeId('shop', 'web');
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const APP_SPAN_ID = '00f067aa0ba902b7';

const ca = TestCa.create();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A pino logger whose JSON lines the test reads back. */
function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    logger: pino({ level: 'info' }, stream),
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => text,
  };
}

/** The value of the first Prometheus sample of `name` whose labels include every `labels` pair. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('telemetry over a sidecar pair', () => {
  test('HTTP metrics, connection metrics, spans continuing the trace, OTLP push and one close line per connection', async () => {
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());

    // The app: answers by path, and says which traceparent it received.
    const seenTraceparents: string[] = [];
    const app = createServer((request, response) => {
      seenTraceparents.push(String(request.headers.traceparent ?? ''));
      request.resume();
      request.on('end', () => {
        if (request.url === '/missing') response.writeHead(404).end('no');
        else if (request.url === '/chunked') {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.write('part one, ');
          setTimeout(() => response.end('part two'), 5);
        } else response.writeHead(200, { 'content-type': 'text/plain' }).end('hello from the app');
      });
    });
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    const appPort = (app.address() as AddressInfo).port;
    cleanups.push(() => new Promise<void>((resolve) => app.close(() => resolve())));

    // Server pod: inbound sidecar.
    const serverDurations = new HttpDurationHistograms();
    const serverTelemetry = createTelemetry(
      'reseal-proxy',
      { otlpEndpoint: receiver.endpoint, spanExportDelayMs: 50, metricExportIntervalMs: 60_000 },
      { metricProducers: [serverDurations] },
    );
    cleanups.push(() => serverTelemetry.shutdown());
    const serverMetrics = createProxyMetrics(serverTelemetry.meter, { localIdentity: SERVER_ID, localWorkload: () => ({ workload: 'web', namespace: 'shop' }) });
    const serverLog = capturingLogger();
    const serverMaterial = ca.issue(SERVER_ID);
    const inbound = new InboundProxy({
      policy: new StaticMeshView(),
      identity: new ManualTlsIdentity(serverMaterial.material),
      metrics: serverMetrics,
      http: new HttpTelemetry(serverDurations, serverMetrics, { tracer: serverTelemetry.tracer }),
      logger: serverLog.logger,
      resolveOriginalDestination: () => ({ port: appPort }),
    });
    const { port: inboundPort } = await inbound.listen(0, '127.0.0.1');
    cleanups.push(() => inbound.close());

    // Client pod: outbound sidecar; discovery knows the destination pod's workload.
    const clientDurations = new HttpDurationHistograms();
    const clientTelemetry = createTelemetry(
      'reseal-proxy',
      { otlpEndpoint: receiver.endpoint, spanExportDelayMs: 50, metricExportIntervalMs: 60_000 },
      { metricProducers: [clientDurations] },
    );
    cleanups.push(() => clientTelemetry.shutdown());
    const clientMetrics = createProxyMetrics(clientTelemetry.meter, { localIdentity: CLIENT_ID });
    const clientLog = capturingLogger();
    const clientMaterial = ca.issue(CLIENT_ID);
    const view = new StaticMeshView();
    view.endpoints.set('127.0.0.1', { ip: '127.0.0.1', identity: SERVER_ID, meshed: true, namespace: 'shop', workload: 'web' });
    const outbound = new OutboundProxy({
      router: meshRouter({ meshView: view, resolveOriginalDestination: () => ({ address: '127.0.0.1', port: inboundPort }) }),
      identity: new ManualTlsIdentity(clientMaterial.material),
      metrics: clientMetrics,
      http: new HttpTelemetry(clientDurations, clientMetrics, { tracer: clientTelemetry.tracer }),
      logger: clientLog.logger,
    });
    const { port: outboundPort } = await outbound.listen(0, '127.0.0.1');
    cleanups.push(() => outbound.close());

    // The app's client: three requests on one keep-alive connection, the first traced.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const call = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: outboundPort, method, path, headers, agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const incoming = `00-${TRACE_ID}-${APP_SPAN_ID}-01`;
    assert.deepEqual(await call('GET', '/hello', { traceparent: incoming }), { status: 200, body: 'hello from the app' });
    assert.deepEqual(await call('POST', '/chunked', {}, 'a body'), { status: 200, body: 'part one, part two' });
    assert.equal((await call('GET', '/missing')).status, 404);
    agent.destroy();
    await eventually(() => clientLog.lines().some((l) => l.event === 'connection_closed') && serverLog.lines().some((l) => l.event === 'connection_closed'), 5000, 'close lines');

    // Prometheus: HTTP histograms by method, status and peer identity on both sides.
    const clientText = await prometheusText(clientTelemetry);
    const serverText = await prometheusText(serverTelemetry);
    const clientGet = { http_request_method: 'GET', http_response_status_code: '200', peer_identity: SERVER_ID, direction: 'outbound' };
    assert.equal(sample(clientText, 'http_client_request_duration_count', clientGet), 1, clientText);
    assert.equal(sample(clientText, 'http_client_request_duration_count', { ...clientGet, http_response_status_code: '404' }), 1);
    assert.equal(sample(clientText, 'http_client_request_duration_count', { ...clientGet, http_request_method: 'POST' }), 1);
    assert.equal(sample(clientText, 'http_client_request_duration_count', { destination_workload: 'web', destination_namespace: 'shop', local_identity: CLIENT_ID }), 1);
    assert.equal(sample(serverText, 'http_server_request_duration_count', { http_request_method: 'GET', http_response_status_code: '200', peer_identity: CLIENT_ID, direction: 'inbound' }), 1, serverText);
    assert.equal(sample(serverText, 'http_server_request_duration_count', { http_request_method: 'GET', http_response_status_code: '404', peer_identity: CLIENT_ID }), 1);
    // Connections: duration histogram, local identity, destination, the protocol detected.
    assert.equal(sample(clientText, 'reseal_proxy_connection_duration_seconds_count', { direction: 'outbound', peer_identity: SERVER_ID, local_identity: CLIENT_ID, destination_workload: 'web' }), 1);
    assert.equal(sample(serverText, 'reseal_proxy_connection_duration_seconds_count', { direction: 'inbound', peer_identity: CLIENT_ID, local_identity: SERVER_ID, destination_workload: 'web', destination_namespace: 'shop' }), 1);
    assert.equal(sample(serverText, 'reseal_proxy_connections_opened_total', { direction: 'inbound', peer_identity: CLIENT_ID, tls: 'mtls' }), 1);
    assert.equal(sample(serverText, 'reseal_proxy_protocol_detections_total', { direction: 'inbound', protocol: 'http1' }), 1);
    assert.ok((sample(serverText, 'reseal_proxy_sent_bytes_total', { direction: 'inbound' }) ?? 0) > 0);
    assert.ok((sample(clientText, 'reseal_proxy_received_bytes_total', { direction: 'outbound' }) ?? 0) > 0);

    // Traces: app span → outbound CLIENT span → inbound SERVER span → the app sees that one.
    await clientTelemetry.forceFlush();
    await serverTelemetry.forceFlush();
    await eventually(() => receiver.spans().length >= 6, 5000, 'six spans exported');
    const spans = receiver.spans();
    const traced = spans.filter((s) => s.traceId === TRACE_ID);
    const clientSpan = traced.find((s) => s.kind === 3);
    const serverSpan = traced.find((s) => s.kind === 2);
    assert.ok(clientSpan && serverSpan, JSON.stringify(spans));
    assert.equal(clientSpan.parentSpanId, APP_SPAN_ID, 'the outbound span continues the app span');
    assert.equal(serverSpan.parentSpanId, clientSpan.spanId, 'the inbound span is a child of the outbound one');
    assert.equal(seenTraceparents[0], `00-${TRACE_ID}-${serverSpan.spanId}-01`, 'the app sees the inbound span as its parent');
    assert.equal(clientSpan.name, 'GET');
    assert.equal(attribute(clientSpan, 'reseal.peer_identity'), SERVER_ID);
    assert.equal(attribute(clientSpan, 'reseal.local_identity'), CLIENT_ID);
    assert.equal(attribute(serverSpan, 'reseal.peer_identity'), CLIENT_ID);
    assert.equal(attribute(serverSpan, 'http.response.status_code'), 200);
    assert.equal(attribute(serverSpan, 'http.request.method'), 'GET');
    // Requests without a traceparent start traces of their own (and the header is not invented).
    assert.equal(seenTraceparents[1], '');
    const missing = spans.find((s) => s.kind === 3 && attribute(s, 'http.response.status_code') === 404);
    assert.equal(missing?.status?.code, 2, 'a 404 is an error on the client side');

    // Metrics pushed over OTLP too, under their OpenTelemetry names.
    await serverTelemetry.forceFlush();
    assert.ok(receiver.metricNames().has('http.server.request.duration'), [...receiver.metricNames()].join(', '));
    assert.ok(receiver.metricNames().has('reseal_proxy_connection_duration_seconds'));
    assert.ok([...receiver.contentTypes].every((t) => t.startsWith('application/json')), [...receiver.contentTypes].join());

    // Logs: exactly one close line per connection per side, with the identity fields.
    const serverCloses = serverLog.lines().filter((l) => l.event === 'connection_closed');
    assert.equal(serverCloses.length, 1);
    const line = serverCloses[0]!;
    assert.equal(line.msg, 'inbound connection closed');
    assert.equal(line.level, 30);
    assert.equal(line.client, CLIENT_ID, 'inbound lines keep `client`');
    assert.equal(line.peer, CLIENT_ID);
    assert.equal(line.local, SERVER_ID);
    assert.equal(line.direction, 'inbound');
    assert.equal(line.tls, 'mtls');
    assert.equal(line.dst_workload, 'web');
    assert.equal(line.protocol, 'http1');
    assert.equal(line.http_requests, 3);
    assert.equal(line.port, appPort);
    assert.ok((line.sent_bytes as number) > 0 && (line.received_bytes as number) > 0);
    assert.equal(typeof line.duration_ms, 'number');
    assert.match(String(line.reason), /^(peer_closed|local_closed)$/);
    const clientCloses = clientLog.lines().filter((l) => l.event === 'connection_closed');
    assert.equal(clientCloses.length, 1);
    assert.equal(clientCloses[0]!.peer, SERVER_ID);
    assert.equal(clientCloses[0]!.local, CLIENT_ID);
    assert.equal(clientCloses[0]!.direction, 'outbound');
    assert.equal(clientCloses[0]!.reason, 'local_closed', 'the app closed its keep-alive connection');
    // The first connection from a peer is logged at info when it opens; there is no other line.
    assert.deepEqual(
      serverLog.lines().map((l) => l.event),
      ['connection_opened', 'connection_closed'],
    );
    assert.deepEqual(
      clientLog.lines().map((l) => l.event),
      ['connection_closed'],
    );
    // Never key material.
    for (const text of [serverLog.text(), clientLog.text()]) {
      assert.doesNotMatch(text, /PRIVATE KEY|BEGIN CERTIFICATE/);
      for (const pem of [serverMaterial.keyPem, clientMaterial.keyPem]) {
        const body = pem.split('\n').slice(1, -2).join('');
        assert.ok(!text.includes(body.slice(0, 40)), 'no key bytes');
      }
    }
  });

  test('opaque ports are never observed; a server-speaks-first protocol is relayed as opaque without delay', async () => {
    const durations = new HttpDurationHistograms();
    const telemetry = createTelemetry('reseal-proxy', {}, { metricProducers: [durations] });
    cleanups.push(() => telemetry.shutdown());
    const metrics = createProxyMetrics(telemetry.meter, { localIdentity: SERVER_ID });
    // A server that greets first, like SMTP.
    const greeter = createTcpServer((socket) => {
      socket.write('220 ready\r\n');
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.on('error', () => {});
    });
    greeter.listen(0, '127.0.0.1');
    await once(greeter, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => greeter.close(() => resolve())));
    const greeterPort = (greeter.address() as AddressInfo).port;
    const http = new HttpTelemetry(durations, metrics, { opaquePorts: [] });
    const view = new StaticMeshView();
    view.mode = 'PERMISSIVE';
    const inbound = new InboundProxy({
      policy: view,
      identity: new ManualTlsIdentity(ca.issue(SERVER_ID).material),
      metrics,
      http,
      logger: pino({ level: 'silent' }),
      resolveOriginalDestination: () => ({ port: greeterPort }),
      firstBytesTimeoutMs: 100,
    });
    const { port } = await inbound.listen(0, '127.0.0.1');
    cleanups.push(() => inbound.close());
    const socket = connectTcp({ host: '127.0.0.1', port });
    const started = performance.now();
    const greeting = await new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    assert.equal(greeting, '220 ready\r\n');
    assert.ok(performance.now() - started < 1000);
    socket.write('GET / HTTP/1.1\r\n\r\n');
    await once(socket, 'data');
    socket.destroy();
    await eventually(async () => sample(await prometheusText(telemetry), 'reseal_proxy_protocol_detections_total', { protocol: 'opaque' }) === 1, 3000, 'opaque counted');
    assert.equal(sample(await prometheusText(telemetry), 'http_server_request_duration_count', {}), undefined, 'no HTTP recorded');

    const skipping = new HttpTelemetry(new HttpDurationHistograms(), metrics, { opaquePorts: [greeterPort] });
    assert.equal(skipping.observe({ labels: metrics.connectionLabels('inbound', '', 'plaintext'), port: greeterPort, peerAddress: '127.0.0.1' }), undefined);
  });
});
