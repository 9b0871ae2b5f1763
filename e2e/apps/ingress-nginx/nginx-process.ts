// The nginx master as a child process: `nginx -t` on a candidate file, start in the
// foreground (`daemon off` is in the config), SIGHUP to reload, SIGQUIT to stop gracefully.
// nginx stays in our process group, gets SIGTERM (fast shutdown, its workers with it) when
// this process exits, and through `setpriv --pdeathsig` also when this process is killed.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Log } from './log.js';

const SETPRIV = '/usr/bin/setpriv';

export interface NginxPaths {
  binary: string;
  /** The prefix (`-p`); the pid file is `<workDir>/nginx.pid`. */
  workDir: string;
  /** The config the master runs (`-c`), and reads again on every reload. */
  confPath: string;
}

export type TestResult = { ok: true } | { ok: false; output: string };

/** `nginx -t`: parses `confPath` and opens its files, binds nothing. */
export function testConfig(paths: NginxPaths, confPath: string = paths.confPath): Promise<TestResult> {
  return new Promise((resolve) => {
    execFile(
      paths.binary,
      ['-t', '-q', '-p', `${paths.workDir}/`, '-e', 'stderr', '-c', confPath],
      { timeout: 15_000, encoding: 'utf8' },
      (error, stdout, stderr) => resolve(error ? { ok: false, output: `${stderr}${stdout}`.trim() || error.message } : { ok: true }),
    );
  });
}

export interface NginxMaster {
  readonly pid: number;
  /** Whether the master is still running. */
  running(): boolean;
  /** Resolves when the master exits, with its exit code or signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGHUP: the master re-reads confPath, starts new workers and retires the old ones gracefully. */
  reload(): void;
  /** SIGQUIT (graceful), SIGTERM after graceMs, SIGKILL 2 s later. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  log: Log;
  /** How long the master may take to write its pid file (it has bound its ports by then). */
  startTimeoutMs?: number;
}

export async function startNginx(paths: NginxPaths, options: StartOptions): Promise<NginxMaster> {
  const { log } = options;
  const nginxArgs = ['-p', `${paths.workDir}/`, '-e', 'stderr', '-c', paths.confPath];
  const [command, args] = existsSync(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', 'TERM', '--', paths.binary, ...nginxArgs]]
    : [paths.binary, nginxArgs];
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderrTail: string[] = [];

  // the access log has a FIFO of its own (access-log.ts); nothing else should come here
  createInterface({ input: child.stdout! }).on('line', (line) => log.info({ event: 'nginx_stdout', line }, 'nginx'));
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    const level = /\[(emerg|alert|crit|error)\]/.test(line) ? 'error' : /\[warn\]/.test(line) ? 'warn' : 'info';
    log[level]({ event: 'nginx_log', line }, 'nginx');
  });

  let exitedFlag = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exitedFlag = true;
      process.off('exit', killOnExit);
      resolve({ code, signal });
    });
  });
  const spawnError = new Promise<never>((_, reject) => child.on('error', reject));
  spawnError.catch(() => {});
  // Our exit, clean or not, takes nginx along: SIGTERM is nginx's fast shutdown, workers included.
  const killOnExit = (): void => {
    if (!exitedFlag && child.pid !== undefined) child.kill('SIGTERM');
  };
  process.on('exit', killOnExit);

  const pidFile = join(paths.workDir, 'nginx.pid');
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  const started = (async () => {
    for (;;) {
      if (exitedFlag) {
        throw new Error(`nginx exited during start-up: ${stderrTail.join('\n')}`);
      }
      const pid = await readFile(pidFile, 'utf8').then((s) => Number(s.trim()), () => 0);
      if (pid === child.pid) return;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`nginx did not write ${pidFile} in time: ${stderrTail.join('\n')}`);
      }
      await sleep(50);
    }
  })();
  await Promise.race([started, spawnError]);

  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid!,
    running: () => !exitedFlag,
    exited,
    reload() {
      if (!exitedFlag) child.kill('SIGHUP');
    },
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        if (exitedFlag) return;
        child.kill('SIGQUIT');
        if (await settles(exited, graceMs)) return;
        log.warn({ event: 'nginx_stop_slow', graceMs }, 'nginx did not stop gracefully in time: SIGTERM');
        child.kill('SIGTERM');
        if (await settles(exited, 2000)) return;
        child.kill('SIGKILL');
        await exited;
      })();
      return stopping;
    },
  };
}

async function settles(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timeout = sleep(ms, false, { ref: false });
  return Promise.race([promise.then(() => true), timeout]);
}
