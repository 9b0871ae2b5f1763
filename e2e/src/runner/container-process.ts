// Container processes and the processes run inside them (exec, hooks, exec probes). Each is
// the leader of its own process group, so that a container is stopped as a whole, and every
// group is registered for the last-resort exit cleanup.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { DEFAULT_PATH } from './container-env.js';
import { exitCleanup } from './exit-cleanup.js';

export interface ExitInfo {
  code: number;
  signal?: NodeJS.Signals;
}

export interface ContainerProcess {
  pid: number;
  exited: Promise<ExitInfo>;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

export function signalNumber(signal: NodeJS.Signals): number {
  return SIGNAL_NUMBERS[signal] ?? 0;
}

export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

function track(child: ChildProcess): ContainerProcess {
  const pid = child.pid;
  if (pid === undefined) throw new Error('spawn failed: no pid');
  exitCleanup.addGroup(pid);
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      // a container ends with its main process: nothing it started may outlive it
      killGroup(pid, 'SIGKILL');
      exitCleanup.removeGroup(pid);
      resolve(signal ? { code: 128 + signalNumber(signal), signal } : { code: code ?? -1 });
    });
  });
  child.once('error', () => {
    // 'exit' still follows for spawn errors after a pid was assigned; nothing else to do
  });
  return { pid, exited };
}

/** Starts a container: `ip netns exec <netns> unshare --uts bash start.sh argv...`, output appended to logPath. */
export function spawnContainer(netns: string, startScriptPath: string, argv: readonly string[], logPath: string): ContainerProcess {
  const fd = openSync(logPath, 'a', 0o644);
  try {
    const child = spawn('ip', ['netns', 'exec', netns, 'unshare', '--uts', '/bin/bash', startScriptPath, ...argv], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { PATH: DEFAULT_PATH },
    });
    return track(child);
  } finally {
    closeSync(fd);
  }
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

const MAX_OUTPUT = 4 * 1024 * 1024;

/** Runs argv inside the namespaces of the container whose main process is `pid`, as its user. */
export function execInContainer(pid: number, enterScriptPath: string, argv: readonly string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--target=${pid}`, '--mount', '--net', '--uts', '--', '/bin/bash', enterScriptPath, ...argv], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: DEFAULT_PATH },
    });
    let tracked: ContainerProcess;
    try {
      tracked = track(child);
    } catch (err) {
      reject(err as Error);
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.toString('utf8');
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += d.toString('utf8');
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(tracked.pid, 'SIGKILL');
    }, timeoutMs);
    // wait for the pipes to close as well as for the exit, so no output is lost
    const closed = new Promise<void>((r) => child.once('close', () => r()));
    void Promise.all([tracked.exited, closed]).then(([exit]) => {
      clearTimeout(timer);
      if (timedOut) stderr += `\n(reseal e2e pod runner: killed after ${timeoutMs} ms)`;
      resolve({ code: timedOut ? 124 : exit.code, stdout, stderr });
    });
  });
}
