// The ingress-nginx stand-in's entry point, run inside its pod:
//   node --import tsx e2e/apps/ingress-nginx/main.ts
// In-cluster credentials (KUBERNETES_SERVICE_HOST/PORT and the service account token,
// which client-node re-reads every 60 s, so a rotated token is picked up); the rest of the
// configuration is read from the environment by config.ts.
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { parseConfig, type ControllerConfig } from './config.js';
import { startController, type Controller } from './controller.js';
import { createLog } from './log.js';
import { resolveWorkerUser } from './worker-user.js';

const PROGRAM = 'ingress-nginx';
const log = createLog(PROGRAM);

let config: ControllerConfig;
let workerUser: { user: string; group: string } | undefined;
try {
  config = parseConfig(process.env);
  workerUser = resolveWorkerUser({
    uid: process.getuid!(),
    gid: process.getgid!(),
    user: config.workerUser,
    group: config.workerGroup,
    meshProxyUid: config.meshProxyUid,
    passwd: readFileSync('/etc/passwd', 'utf8'),
    groups: readFileSync('/etc/group', 'utf8'),
  });
} catch (error) {
  console.error(`${PROGRAM}: ${(error as Error).message}`);
  process.exit(2);
}

const kubeConfig = new KubeConfig();
if (!process.env['KUBERNETES_SERVICE_HOST']) {
  console.error(`${PROGRAM}: KUBERNETES_SERVICE_HOST is not set: this runs inside a pod, with its service account`);
  process.exit(2);
}
kubeConfig.loadFromCluster();

const exitWith = (code: number) => (): never => process.exit(code); // the 'exit' hook takes nginx along
process.on('uncaughtException', (error) => {
  log.error({ event: 'uncaught_exception', err: error }, 'uncaught exception');
  exitWith(1)();
});
process.on('unhandledRejection', (error) => {
  log.error({ event: 'unhandled_rejection', err: error }, 'unhandled rejection');
  exitWith(1)();
});

let controller: Controller;
try {
  controller = await startController({
    kubeConfig,
    config,
    log,
    ...(workerUser ? { workerUser } : {}),
    onFatal: () => exitWith(1)(),
  });
} catch (error) {
  log.error({ event: 'start_failed', err: error }, 'could not start');
  process.exit(1);
}

let shuttingDown = false;
const shutdown = (signal: string): void => {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info({ event: 'shutdown', signal }, 'stopping');
  controller.stop().then(exitWith(0), (error: unknown) => {
    log.error({ event: 'shutdown_failed', err: error }, 'stop failed');
    exitWith(1)();
  });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
