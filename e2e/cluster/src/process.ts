// Child processes of a test cluster: spawned with their output in a log file,
// stopped with SIGTERM then SIGKILL, and killed synchronously when the test
// process exits (or is interrupted) so nothing is left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Set once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnLogged(name: string, command: string, args: string[], logFile: string): ManagedProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', fd, fd], env: childEnv() });
  } finally {
    closeSync(fd);
  }
  let exitedFlag = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      // spawn failure (e.g. ENOENT, EACCES): no 'exit' follows
      if (child.pid === undefined) {
        appendFileSync(logFile, `failed to start ${command}: ${err.message}\n`);
        exitedFlag = true;
        resolve({ code: null, signal: null });
      }
    });
  });
  // A forgotten stop() must not keep the test process alive: when it exits,
  // the 'exit' handler below kills the children.
  child.unref();
  const pid = child.pid ?? -1;
  const proc: ManagedProcess = {
    name,
    pid,
    logFile,
    exited,
    hasExited: () => exitedFlag,
    async stop(graceMs = 5000) {
      if (exitedFlag) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (killed) child.kill('SIGKILL');
      await exited;
    },
  };
  return proc;
}

/** The environment for etcd and kube-apiserver: ours, minus what would change their behaviour. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('ETCD_') || key.startsWith('ETCDCTL_')) delete env[key];
  }
  delete env['KUBECONFIG'];
  return env;
}

/** The last `maxBytes` of a log file, or a note that it could not be read. */
export async function logTail(file: string, maxBytes = 6000): Promise<string> {
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - maxBytes);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      const text = buf.toString('utf8');
      return start > 0 ? `...${text.slice(text.indexOf('\n') + 1)}` : text;
    } finally {
      await fh.close();
    }
  } catch (err) {
    return `(cannot read ${file}: ${(err as Error).message})`;
  }
}

// ---- last-resort cleanup -------------------------------------------------

interface Cleanup {
  procs: ManagedProcess[];
  dir: string;
  keepDir: boolean;
}

const live = new Set<Cleanup>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

function cleanupAllSync(): void {
  for (const c of live) {
    for (const p of c.procs) {
      // an exited child's pid may already belong to somebody else
      if (p.hasExited() || p.pid <= 0) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (!c.keepDir) {
      try {
        rmSync(c.dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAllSync();
  uninstall();
  // Let the signal do what it would have done without us (usually: terminate),
  // unless somebody else also listens for it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAllSync);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', cleanupAllSync);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/**
 * Makes sure the added processes are killed and `dir` removed if the test
 * process exits (or gets SIGINT/SIGTERM/SIGHUP) before `release()`.
 */
export function registerCleanup(dir: string, keepDir: boolean): {
  addProcess(proc: ManagedProcess): void;
  release(): void;
} {
  const entry: Cleanup = { procs: [], dir, keepDir };
  live.add(entry);
  install();
  return {
    addProcess(proc) {
      entry.procs.push(proc);
    },
    release() {
      live.delete(entry);
      if (live.size === 0) uninstall();
    },
  };
}

/** Thrown when a component fails to start; carries the tail of its log. */
export class StartError extends Error {
  /** The log says a port was taken: worth retrying with other ports. */
  readonly portInUse: boolean;
  constructor(message: string, log: string) {
    super(`${message}\n--- last log lines ---\n${log.trimEnd()}\n---`);
    this.name = 'StartError';
    this.portInUse = /address already in use/i.test(log);
  }
}

/**
 * Polls `probe` every `intervalMs` until it returns true. Fails with the log
 * tail of `proc` if it exits first or `timeoutMs` passes.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    if (proc.hasExited()) {
      const { code, signal } = await proc.exited;
      throw new StartError(
        `test cluster: ${proc.name} exited (${signal ?? `code ${code}`}) before ${what}; log: ${proc.logFile}`,
        await logTail(proc.logFile),
      );
    }
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new StartError(
        `test cluster: ${proc.name} not ready (${what}) after ${timeoutMs} ms` +
          (lastError ? ` (last probe error: ${lastError})` : '') +
          `; log: ${proc.logFile}`,
        await logTail(proc.logFile),
      );
    }
    await Promise.race([new Promise((r) => setTimeout(r, intervalMs)), proc.exited]);
  }
}
