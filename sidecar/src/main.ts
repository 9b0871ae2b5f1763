import { pino } from 'pino';
import { parseProxyConfig } from './config.js';
import { startProxy } from './proxy.js';

const config = (() => {
  try {
    return parseProxyConfig(process.env);
  } catch (error) {
    console.error(`reseal-proxy: ${(error as Error).message}`);
    process.exit(2);
  }
})();
const logger = pino({ level: config.logLevel, base: { component: 'reseal-proxy', pod: `${config.pod.namespace}/${config.pod.name}` } });

// A proxy that dies takes the pod's traffic with it: log what escaped and keep serving.
process.on('uncaughtException', (error) => logger.error({ event: 'uncaught_exception', err: error }, 'uncaught exception'));
process.on('unhandledRejection', (error) => logger.error({ event: 'unhandled_rejection', err: error }, 'unhandled rejection'));

try {
  const proxy = await startProxy(config, logger);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'shutdown', signal, drainSeconds: config.drainSeconds }, 'draining');
    proxy.stop(config.drainSeconds * 1000).then(
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
  logger.fatal({ event: 'start_failed', err: error }, 'reseal-proxy could not start');
  process.exit(1);
}
