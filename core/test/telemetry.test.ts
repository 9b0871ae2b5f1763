// createTelemetry: Prometheus always; with an OTLP endpoint, metrics pushed periodically and
// a tracer that exports spans, both over OTLP/HTTP JSON to a real (local) receiver.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { TelemetryOptionsError, createTelemetry, otlpSignalUrl, telemetryOptionsFromEnv } from '../src/telemetry.js';

test('the OTEL_* variables are read and checked', () => {
  assert.deepEqual(telemetryOptionsFromEnv({}), { otlpEndpoint: undefined, metricExportIntervalMs: undefined, spanExportDelayMs: undefined });
  assert.deepEqual(telemetryOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ' http://collector:4318 ', OTEL_METRIC_EXPORT_INTERVAL: '5000' }), {
    otlpEndpoint: 'http://collector:4318',
    metricExportIntervalMs: 5000,
    spanExportDelayMs: undefined,
  });
  assert.throws(() => telemetryOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' }), TelemetryOptionsError);
  assert.throws(() => telemetryOptionsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' }), TelemetryOptionsError);
  assert.throws(() => telemetryOptionsFromEnv({ OTEL_METRIC_EXPORT_INTERVAL: 'soon' }), TelemetryOptionsError);
  assert.equal(otlpSignalUrl('http://c:4318/', 'metrics'), 'http://c:4318/v1/metrics');
});

test('without an endpoint: no tracer, Prometheus only', async () => {
  const telemetry = createTelemetry('t');
  assert.equal(telemetry.tracer, undefined);
  await telemetry.forceFlush();
  await telemetry.shutdown();
});

test('with an endpoint: metrics and spans reach an OTLP/HTTP receiver as JSON', async () => {
  const received: { path: string; type: string; body: Record<string, unknown> }[] = [];
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      received.push({ path: request.url ?? '', type: String(request.headers['content-type']), body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const telemetry = createTelemetry('reseal-test', { otlpEndpoint: endpoint, metricExportIntervalMs: 100, resourceAttributes: { 'k8s.pod.name': 'web-0' } });
  try {
    telemetry.meter.createCounter('reseal_test_things').add(3, { kind: 'a' });
    telemetry.tracer!.startSpan('GET').end();
    await telemetry.forceFlush();
    const metrics = received.filter((r) => r.path === '/v1/metrics');
    const traces = received.filter((r) => r.path === '/v1/traces');
    assert.ok(metrics.length >= 1 && traces.length === 1, JSON.stringify(received.map((r) => r.path)));
    assert.match(metrics[0]!.type, /^application\/json/);
    const text = JSON.stringify(metrics.map((m) => m.body));
    assert.match(text, /"name":"reseal_test_things"/);
    assert.match(text, /"k8s.pod.name"/);
    assert.match(JSON.stringify(traces[0]!.body), /"name":"GET"/);
  } finally {
    await telemetry.shutdown();
    receiver.close();
  }
});
