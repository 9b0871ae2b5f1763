import { execFile } from 'node:child_process';

export interface CommandResult {
  /** Exit code; 127 when the binary is not on PATH, as a shell would report. */
  code: number;
  stdout: string;
  stderr: string;
}

export type RunCommand = (binary: string, args: readonly string[]) => Promise<CommandResult>;

/** Runs without a shell and never rejects: callers decide which failures are fatal. */
export const runCommand: RunCommand = (binary, args) =>
  new Promise((resolve) => {
    execFile(
      binary,
      [...args],
      // Stable English messages, since they end up in our own error text.
      { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr });
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return resolve({ code: 127, stdout: '', stderr: `${binary}: command not found` });
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr: stderr || error.message });
      },
    );
  });
