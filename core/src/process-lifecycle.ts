import type { Logger } from 'pino';

/**
 * The start-up and shutdown shape every Reseal process shares: parse the environment once
 * (a bad value exits 2 with the message), start, stop on SIGTERM/SIGINT (exit 0, or 1 if
 * stopping fails), exit 1 if starting fails. Escaped errors are logged, not fatal: a
 * crashed proxy drops its pod's traffic and a crashed injector blocks pod creation.
 */
export function parseConfigOrExit<T>(program: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    console.error(`${program}: ${(error as Error).message}`);
    process.exit(2);
  }
}

export async function runUntilSignalled(logger: Logger, start: () => Promise<{ stop(): Promise<void> }>): Promise<void> {
  process.on('uncaughtException', (error) => logger.error({ event: 'uncaught_exception', err: error }, 'uncaught exception'));
  process.on('unhandledRejection', (error) => logger.error({ event: 'unhandled_rejection', err: error }, 'unhandled rejection'));
  let running: { stop(): Promise<void> };
  try {
    running = await start();
  } catch (error) {
    logger.fatal({ event: 'start_failed', err: error }, 'could not start');
    process.exit(1);
  }
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
}
