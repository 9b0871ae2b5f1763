import { KubeConfig } from '@kubernetes/client-node';
import { parseConfig } from './config.js';
import { startControlPlane } from './control-plane.js';
import { createLogger } from './logger.js';

const config = (() => {
  try {
    return parseConfig(process.env);
  } catch (error) {
    console.error(`reseal-control-plane: ${(error as Error).message}`);
    process.exit(2);
  }
})();
const logger = createLogger(config.logLevel, 'control-plane');

let kubeConfig: KubeConfig | undefined;
if (config.mode.kind === 'kubernetes') {
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
}

try {
  const running = await startControlPlane(config, { logger, ...(kubeConfig ? { kubeConfig } : {}) });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'shutdown', signal }, 'stopping');
    running.stop().then(
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
  logger.fatal({ event: 'start_failed', err: error }, 'control plane could not start');
  process.exit(1);
}
