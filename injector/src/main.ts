import { pino } from 'pino';
import { parseInjectorConfig } from './config.js';
import { startInjector } from './injector.js';

const config = (() => {
  try {
    return parseInjectorConfig(process.env);
  } catch (error) {
    console.error(`reseal-injector: ${(error as Error).message}`);
    process.exit(2);
  }
})();
const logger = pino({ level: config.logLevel, base: { component: 'reseal-injector' } });

// A crashed injector blocks every pod creation in meshed namespaces (failurePolicy Fail).
process.on('uncaughtException', (error) => logger.error({ event: 'uncaught_exception', err: error }, 'uncaught exception'));
process.on('unhandledRejection', (error) => logger.error({ event: 'unhandled_rejection', err: error }, 'unhandled rejection'));

try {
  const injector = await startInjector(config, { logger });
  logger.info({ event: 'started', version: config.mesh.version, webhookPort: injector.webhook.port, adminPort: injector.admin.port, nativeSidecars: config.mesh.nativeSidecars }, 'reseal-injector started');
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'shutdown', signal }, 'stopping');
    injector.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ event: 'shutdown_failed', err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (error) {
  logger.fatal({ event: 'start_failed', err: error }, 'reseal-injector could not start');
  process.exit(1);
}
