// One Reseal sidecar for the proxy bench: explicit-mode listeners from a JSON file, run in
// its own process like a real sidecar (so its CPU and RSS can be read from /proc).
//
//   node --import tsx bench/proxy-process.ts <config.json>
//
// config.json: { "spiffeId", "keyPem", "chainPem", "trustBundlePem", "listeners": [...] }
// (listeners as in explicit mode). Prints "ready <port> ..." once every listener is bound.

import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createNoopMeter } from '@opentelemetry/api';
import { pino } from 'pino';
import { createTelemetry } from '@reseal/core';
import { parseExplicitConfig, startExplicitListeners } from '../src/explicit/index.js';
import type { TlsIdentitySource, TlsMaterial } from '../src/identity/tls-identity.js';
import { createMeshSecureContext } from '../src/proxy-core/mesh-tls-context.js';
import { HttpDurationHistograms, HttpTelemetry } from '../src/telemetry/http-telemetry.js';
import { createProxyMetrics } from '../src/telemetry/proxy-metrics.js';

interface BenchProxyConfig {
  readonly spiffeId: string;
  readonly keyPem: string;
  readonly chainPem: string;
  readonly trustBundlePem: string;
  readonly listeners: unknown[];
  /**
   * 'sdk' (default): the sidecar's own telemetry (createTelemetry: a MeterProvider with
   * the Prometheus reader, which is what makes each record() aggregate) and HTTP
   * observation, as in production (the loadgen speaks HTTP/1.1, so every request is parsed
   * and timed); 'noop': no metrics and no HTTP observation at all, the baseline for the
   * cost of telemetry.
   */
  readonly metrics?: 'sdk' | 'noop';
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as BenchProxyConfig;
const leaf = new X509Certificate(config.chainPem);
const material: TlsMaterial = {
  spiffeId: config.spiffeId,
  secureContext: createMeshSecureContext({ keyPem: config.keyPem, certificateChainPem: config.chainPem, trustBundlePem: config.trustBundlePem }),
  certificateChainPem: config.chainPem,
  trustBundlePem: config.trustBundlePem,
  notBefore: leaf.validFromDate,
  notAfter: leaf.validToDate,
  serial: leaf.serialNumber,
};
const identity: TlsIdentitySource = { current: () => material, onChange: () => () => {} };
const telemetryOn = config.metrics !== 'noop';
// A MeterProvider without a reader keeps no storage, so record() would cost nothing here
// that it costs in production: use the same telemetry as the sidecar's entry point.
const httpDurations = new HttpDurationHistograms();
const meter = telemetryOn ? createTelemetry('reseal-proxy', {}, { metricProducers: [httpDurations] }).meter : createNoopMeter();
const metrics = createProxyMetrics(meter, { localIdentity: config.spiffeId });
const listeners = await startExplicitListeners(parseExplicitConfig({ listeners: config.listeners }), {
  identity,
  metrics,
  http: telemetryOn ? new HttpTelemetry(httpDurations, metrics) : undefined,
  logger: pino({ level: 'warn' }, pino.destination(2)),
});
const ports = [...listeners.outbound, ...listeners.inbound].map((l) => l.address.port);
process.stdout.write(`ready ${ports.join(' ')}\n`);

const stop = () => {
  void listeners.close(0).then(() => process.exit(0));
};
process.on('SIGTERM', stop);
// For a person investigating memory: `kill -USR2 <pid>` prints the process's own view.
process.on('SIGUSR2', () => process.stderr.write(`${JSON.stringify(process.memoryUsage())}\n`));
process.on('SIGINT', stop);
