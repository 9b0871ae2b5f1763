// Plain, greppable lines in <logDir>/runner.log: the runner is test tooling, and when a
// scenario fails this file (next to the container logs) is what a person reads first.
import { appendFileSync } from 'node:fs';

export type LogFields = Record<string, unknown>;

export interface RunnerLog {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

function render(level: string, event: string, fields: LogFields): string {
  const parts = [new Date().toISOString(), level, event];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = value instanceof Error ? value.message : typeof value === 'string' ? value : JSON.stringify(value);
    parts.push(`${key}=${/[\s"]/.test(text) ? JSON.stringify(text) : text}`);
  }
  return `${parts.join(' ')}\n`;
}

export function fileRunnerLog(path: string): RunnerLog {
  // Synchronous appends keep the order of lines and survive a crashing test process.
  const write = (level: string, event: string, fields: LogFields = {}): void => {
    try {
      appendFileSync(path, render(level, event, fields));
    } catch {
      // the log directory vanished (test cleanup raced us): nothing useful to do
    }
  };
  return {
    info: (event, fields) => write('INFO', event, fields),
    warn: (event, fields) => write('WARN', event, fields),
    error: (event, fields) => write('ERROR', event, fields),
  };
}
