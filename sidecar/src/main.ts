import { parseConfigOrExit, runUntilSignalled } from '@reseal/core';
import { pino } from 'pino';
import { parseProxyConfig } from './config.js';
import { startProxy } from './proxy.js';

const config = parseConfigOrExit('reseal-proxy', () => parseProxyConfig(process.env));
const logger = pino({ level: config.logLevel, base: { component: 'reseal-proxy', pod: `${config.pod.namespace}/${config.pod.name}` } });

await runUntilSignalled(logger, async () => {
  const proxy = await startProxy(config, logger);
  // SIGTERM drains: open connections get the grace period, new ones are refused.
  return { stop: () => proxy.stop(config.drainSeconds * 1000) };
});
