// The demo's children: each in a process group of its own (a Ctrl-C at the terminal reaches
// the demo only, which then stops them in order), with the write end of its stdin held by
// the demo so that a Node child stops by itself if the demo dies (child-guard.ts); nginx
// gets the same guarantee from a parent-death signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

export interface ChildSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  /** An IPC channel (Node children only). */
  readonly ipc?: boolean;
}

export interface ManagedChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly logFile: string;
  /** The last lines it printed, for error messages. */
  tail(lines?: number): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class ChildProcesses {
  private readonly children: ManagedChild[] = [];
  private stopping = false;

  constructor(
    private readonly logDir: string,
    /** Called when a child exits while the demo is not stopping. */
    private readonly onUnexpectedExit: (child: ManagedChild, code: number | null, signal: NodeJS.Signals | null) => void,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  start(spec: ChildSpec): ManagedChild {
    const logFile = join(this.logDir, `${spec.name}.log`);
    const log: WriteStream = createWriteStream(logFile);
    const lines: string[] = [];
    const child = spawn(spec.command, [...spec.args], {
      env: spec.env,
      detached: true,
      stdio: spec.ipc ? ['pipe', 'pipe', 'pipe', 'ipc'] : ['pipe', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      log.write(chunk);
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(line);
      if (lines.length > 200) lines.splice(0, lines.length - 200);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    // EPIPE on a child's stdin when it has exited is expected; never crash the demo for it.
    child.stdin?.on('error', () => undefined);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', (error) => {
        lines.push(`cannot start ${spec.command}: ${error.message}`);
        resolve({ code: -1, signal: null });
      });
      child.once('exit', (code, signal) => {
        log.end();
        resolve({ code, signal });
      });
    });
    const managed: ManagedChild = {
      name: spec.name,
      process: child,
      logFile,
      tail: (n = 12) => lines.slice(-n).join('\n'),
      exited,
    };
    void exited.then(({ code, signal }) => {
      if (!this.stopping) this.onUnexpectedExit(managed, code, signal);
    });
    this.children.push(managed);
    return managed;
  }

  /** SIGTERM to each process group, newest first; SIGKILL to a group still there after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    this.stopping = true;
    for (const child of [...this.children].reverse()) {
      await stopGroup(child, graceMs);
    }
  }

  /** For a crash of the demo itself: no waiting, everything gets SIGKILL. */
  killAllNow(): void {
    this.stopping = true;
    for (const child of this.children) signalGroup(child.process, 'SIGKILL');
  }

  get all(): readonly ManagedChild[] {
    return this.children;
  }
}

async function stopGroup(child: ManagedChild, graceMs: number): Promise<void> {
  const pid = child.process.pid;
  if (pid === undefined) return;
  if (child.process.exitCode === null && child.process.signalCode === null) signalGroup(child.process, 'SIGTERM');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
  await Promise.race([child.exited, timer]);
  // Whatever is left of the group (the child itself, or processes it started) is killed.
  signalGroup(child.process, 'SIGKILL');
  await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}
