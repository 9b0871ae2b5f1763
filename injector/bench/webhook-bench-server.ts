// The webhook as the bench's server process: same code path as production (pino JSON lines,
// metrics), logs to /dev/null so the terminal is not the bottleneck.
import { createTelemetry } from '@reseal/core';
import { pino } from 'pino';
import { InjectorMetrics } from '../src/injector-metrics.js';
import { makeInjectContext } from '../src/patch/index.js';
import { startWebhookServer } from '../src/webhook-server.js';

const [certFile, keyFile] = process.argv.slice(2) as [string, string];
const telemetry = createTelemetry('reseal-injector-bench');
const { namespace: _namespace, ...settings } = makeInjectContext({
  namespace: '',
  images: { proxy: 'registry.example/reseal/sidecar:0.1.0', init: 'registry.example/reseal/sidecar:0.1.0' },
  version: '0.1.0',
  trustRootHash: 'c'.repeat(64),
});
const server = await startWebhookServer({
  host: '127.0.0.1',
  port: 0,
  tls: { certFile, keyFile },
  settings: () => settings,
  logger: pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false })),
  metrics: new InjectorMetrics(telemetry.meter),
});
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.on('SIGTERM', () => void server.stop(100).then(() => process.exit(0)));
process.on('SIGINT', () => process.exit(0));
