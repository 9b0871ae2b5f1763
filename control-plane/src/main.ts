import { KubeConfig } from '@kubernetes/client-node';
import { parseConfigOrExit, runUntilSignalled, telemetryOptionsFromEnv } from '@reseal/core';
import { parseConfig } from './config.js';
import { startControlPlane } from './control-plane.js';
import { createLogger } from './logger.js';

const config = parseConfigOrExit('reseal-control-plane', () => parseConfig(process.env));
const telemetry = parseConfigOrExit('reseal-control-plane', () => telemetryOptionsFromEnv(process.env));
const logger = createLogger(config.logLevel, 'control-plane');

let kubeConfig: KubeConfig | undefined;
if (config.mode.kind === 'kubernetes') {
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
}

await runUntilSignalled(logger, () => startControlPlane(config, { logger, telemetry, ...(kubeConfig ? { kubeConfig } : {}) }));
