// nginx's access log, through a FIFO in the work dir, onto our stdout. nginx can only log
// to a path, and /dev/stdout cannot be opened when our stdout is a socket (as it is under
// Node's child_process and many process runners): open() fails with ENXIO.
import { execFile } from 'node:child_process';
import { constants, openSync } from 'node:fs';
import { lstat, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The path render-config.ts writes into `access_log`. */
export function accessLogPath(workDir: string): string {
  return join(workDir, 'access.log');
}

export interface AccessLogReader {
  close(): Promise<void>;
}

/**
 * Creates the FIFO and holds it open read-write, so that nginx's open() for writing never
 * blocks and the reader never sees end-of-file between reloads; every line goes to onLine.
 */
export async function openAccessLog(workDir: string, onLine: (line: string) => void): Promise<AccessLogReader> {
  const path = accessLogPath(workDir);
  const existing = await lstat(path).catch(() => undefined);
  if (existing && !existing.isFIFO()) await rm(path, { force: true });
  if (!existing || !existing.isFIFO()) await run('mkfifo', ['-m', '0600', path]);
  // the socket owns the descriptor and closes it on destroy()
  const socket = new Socket({ fd: openSync(path, constants.O_RDWR | constants.O_NONBLOCK), readable: true, writable: false });
  createInterface({ input: socket }).on('line', onLine);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  return {
    async close() {
      socket.destroy();
      await closed;
    },
  };
}
