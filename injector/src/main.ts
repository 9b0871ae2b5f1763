import { parseConfigOrExit, runUntilSignalled, telemetryOptionsFromEnv } from '@reseal/core';
import { pino } from 'pino';
import { parseInjectorConfig } from './config.js';
import { startInjector } from './injector.js';

const config = parseConfigOrExit('reseal-injector', () => parseInjectorConfig(process.env));
const telemetryOptions = parseConfigOrExit('reseal-injector', () => telemetryOptionsFromEnv(process.env));
const logger = pino({ level: config.logLevel, base: { component: 'reseal-injector' } });

await runUntilSignalled(logger, async () => {
  const injector = await startInjector(config, { logger, telemetryOptions });
  logger.info(
    { event: 'started', version: config.mesh.version, webhookPort: injector.webhook.port, adminPort: injector.admin.port, nativeSidecars: config.mesh.nativeSidecars },
    'reseal-injector started',
  );
  return injector;
});
