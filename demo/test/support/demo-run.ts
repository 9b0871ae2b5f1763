// Runs the demo's bin as `npm run demo` does, and finds the processes a run left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/reseal-demo.js', import.meta.url));

export interface DemoRun {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The demo's directory, once it has printed it. */
  workDir(): string | undefined;
  /** Resolves when stdout matches, rejects if the demo exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
}

export function runDemo(args: readonly string[]): DemoRun {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    workDir: () => /files and logs: (\S+)/.exec(out)?.[1],
    exited,
    waitFor: async (pattern, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(out);
        if (m) return m;
        if (done) throw new Error(`the demo exited before printing ${pattern}:\n${out}\n${err}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}

/**
 * Live processes of demo `parentPid`: those whose environment carries its marker, plus every
 * member of their process groups (nginx rewrites its own environment, its workers inherit
 * the group of the master the demo started, whose command line names the demo's directory).
 */
export function processesOf(parentPid: number, workDir?: string): number[] {
  const marker = `RESEAL_DEMO_PARENT=${parentPid}\0`;
  const all = new Map<number, { pgid: number; state: string }>();
  const marked = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      all.set(Number(entry), { state: fields[0]!, pgid: Number(fields[2]) });
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) marked.add(Number(entry));
      else if (workDir && readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(workDir)) marked.add(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  const groups = new Set([...marked].map((pid) => all.get(pid)?.pgid));
  return [...all].filter(([pid, p]) => p.state !== 'Z' && (marked.has(pid) || groups.has(p.pgid))).map(([pid]) => pid);
}

export async function waitNoProcessesOf(parentPid: number, workDir: string | undefined, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = processesOf(parentPid, workDir);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = processesOf(parentPid, workDir);
  }
  return left;
}

export function describe(pids: readonly number[]): string {
  return pids.map((pid) => {
    try {
      return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ')}`;
    } catch {
      return `${pid}: ?`;
    }
  }).join('\n');
}
