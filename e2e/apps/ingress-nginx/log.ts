// One JSON line per event on stdout, in pino's shape (level number, time, msg), without
// pulling pino into the e2e package. Callers never pass key material: the only secrets
// the controller handles are TLS keys, and they are written to files, not logged.

export type LogFields = Record<string, unknown>;

export interface Log {
  debug(fields: LogFields, msg: string): void;
  info(fields: LogFields, msg: string): void;
  warn(fields: LogFields, msg: string): void;
  error(fields: LogFields, msg: string): void;
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export function createLog(name: string, write: (line: string) => void = (line) => process.stdout.write(line + '\n')): Log {
  const emit = (level: keyof typeof LEVELS, fields: LogFields, msg: string): void => {
    const record: LogFields = { level: LEVELS[level], time: Date.now(), name, msg };
    for (const [key, value] of Object.entries(fields)) {
      record[key] = value instanceof Error ? { type: value.name, message: value.message } : value;
    }
    write(JSON.stringify(record));
  };
  return {
    debug: (fields, msg) => emit('debug', fields, msg),
    info: (fields, msg) => emit('info', fields, msg),
    warn: (fields, msg) => emit('warn', fields, msg),
    error: (fields, msg) => emit('error', fields, msg),
  };
}

/** A log that drops everything, for tests. */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
