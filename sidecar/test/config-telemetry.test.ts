// The telemetry part of reseal-proxy's configuration: opaque ports and OTLP settings.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyConfigError, parseProxyConfig } from '../src/config.js';
import { DEFAULT_OPAQUE_PORTS } from '../src/telemetry/http-telemetry.js';

const BASE = { POD_NAMESPACE: 'shop', POD_NAME: 'web-0', SERVICE_ACCOUNT: 'web', POD_IP: '10.0.0.1' };

test('opaque ports: defaults, a list with ranges, and errors', () => {
  assert.deepEqual(parseProxyConfig(BASE).opaquePorts, [...DEFAULT_OPAQUE_PORTS]);
  assert.deepEqual(parseProxyConfig({ ...BASE, RESEAL_OPAQUE_PORTS: '' }).opaquePorts, [], 'empty: detect everywhere');
  assert.deepEqual(parseProxyConfig({ ...BASE, RESEAL_OPAQUE_PORTS: '5432, 9000-9002' }).opaquePorts, [5432, 9000, 9001, 9002]);
  for (const bad of ['0', '70000', 'x', '9-1', '1-5000']) {
    assert.throws(() => parseProxyConfig({ ...BASE, RESEAL_OPAQUE_PORTS: bad }), ProxyConfigError, bad);
  }
});

test('OTLP: the endpoint and the pod as resource attributes; a bad endpoint is a config error', () => {
  const config = parseProxyConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318' });
  assert.equal(config.telemetry.otlpEndpoint, 'http://otel-collector.observability:4318');
  assert.deepEqual(config.telemetry.resourceAttributes, { 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'web-0', 'reseal.identity': 'spiffe://cluster.local/ns/shop/sa/web' });
  assert.equal(parseProxyConfig(BASE).telemetry.otlpEndpoint, undefined);
  assert.throws(() => parseProxyConfig({ ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: 'otel:4317' }), ProxyConfigError);
});
