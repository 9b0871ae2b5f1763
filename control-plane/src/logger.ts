import { pino, type Logger } from 'pino';

/** JSON lines on stdout; credentials are redacted even if a caller passes them by mistake. */
export function createLogger(level: string, component: string): Logger {
  return pino({
    level,
    base: { component },
    redact: { paths: ['token', 'bearerToken', 'authorization', '*.token', '*.authorization', 'key', 'privateKey', '*.privateKey', 'keyPem'], censor: '[redacted]' },
  });
}
