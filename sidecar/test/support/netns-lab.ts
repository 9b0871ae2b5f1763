// Throwaway network namespaces for capture tests: a "pod" and a "peer" joined by a veth
// pair, addressed only from 198.18.0.0/15 (RFC 2544 benchmarking) and with no default
// route, so nothing a test sends can leave the machine.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const SIDECAR_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NAME_PREFIX = 'rstest';

export const POD_ADDRESS = '198.18.0.1';
export const PEER_ADDRESS = '198.18.0.2';
/** A second network behind the peer, reached through a route: lets tests skip a CIDR. */
export const PEER_FAR_ADDRESS = '198.18.1.2';
export const PEER_FAR_CIDR = '198.18.1.0/24';

/** Capture tests need CAP_NET_ADMIN; CI runs as root, so missing root is a failure, not a skip. */
export function assertRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('capture tests create network namespaces and iptables rules: run them as root');
  }
}

export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(command: string, args: readonly string[], options: { allowFailure?: boolean } = {}): CommandOutput {
  const result = spawnSync(command, [...args], { cwd: SIDECAR_DIR, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  const output = { code: result.status ?? 1, stdout: result.stdout ?? '', stderr: result.stderr ?? String(result.error ?? '') };
  if (output.code !== 0 && !options.allowFailure) {
    throw new Error(`${command} ${args.join(' ')} failed (${output.code}): ${output.stderr.trim()}`);
  }
  return output;
}

export interface NetnsLab {
  pod: string;
  peer: string;
  /** Runs a command inside a namespace and waits for it. */
  exec(ns: string, command: string, args: readonly string[], options?: { allowFailure?: boolean }): CommandOutput;
  /** Starts a long-lived process inside a namespace; it is killed by destroy(). */
  start(ns: string, command: string, args: readonly string[]): ChildProcess;
  destroy(): void;
}

/** A killed process can linger as a zombie until its new parent reaps it: that counts as gone. */
function processAlive(pid: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

function namespaceExists(name: string): boolean {
  return existsSync(path.join('/run/netns', name));
}

/**
 * Deletes namespaces left by earlier runs whose test process is gone (a run killed
 * before its `after` hook). Names carry the creating pid, so live runs are untouched.
 */
function removeAbandonedNamespaces(): void {
  if (!existsSync('/run/netns')) return;
  for (const name of readdirSync('/run/netns')) {
    const match = new RegExp(`^${NAME_PREFIX}-(\\d+)-`).exec(name);
    if (match?.[1] && !processAlive(match[1])) killAndDelete(name);
  }
}

function killAndDelete(ns: string): void {
  // Only processes inside our own namespace: they are this test run's children.
  const pids = sh('ip', ['netns', 'pids', ns], { allowFailure: true }).stdout.split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  sh('ip', ['netns', 'del', ns], { allowFailure: true });
}

export function createNetnsLab(): NetnsLab {
  assertRoot();
  removeAbandonedNamespaces();
  const id = `${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
  const pod = `${NAME_PREFIX}-${id}-pod`;
  const peer = `${NAME_PREFIX}-${id}-peer`;
  const children = new Set<ChildProcess>();

  const lab: NetnsLab = {
    pod,
    peer,
    exec: (ns, command, args, options) => sh('ip', ['netns', 'exec', ns, command, ...args], options),
    start(ns, command, args) {
      const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
        cwd: SIDECAR_DIR,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    },
    destroy() {
      for (const child of children) child.kill('SIGKILL');
      // Deleting the namespace drops every iptables rule and address inside it.
      for (const ns of [pod, peer]) if (namespaceExists(ns)) killAndDelete(ns);
    },
  };

  try {
    sh('ip', ['netns', 'add', pod]);
    sh('ip', ['netns', 'add', peer]);
    // Created straight inside the namespaces: the host never sees either end.
    sh('ip', ['link', 'add', 'eth0', 'netns', pod, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
    for (const ns of [pod, peer]) {
      lab.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
      lab.exec(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    }
    lab.exec(pod, 'ip', ['addr', 'add', `${POD_ADDRESS}/24`, 'dev', 'eth0']);
    lab.exec(peer, 'ip', ['addr', 'add', `${PEER_ADDRESS}/24`, 'dev', 'eth0']);
    lab.exec(peer, 'ip', ['addr', 'add', `${PEER_FAR_ADDRESS}/32`, 'dev', 'lo']);
    lab.exec(pod, 'ip', ['route', 'add', PEER_FAR_CIDR, 'via', PEER_ADDRESS, 'dev', 'eth0']);
  } catch (error) {
    lab.destroy();
    throw error;
  }
  return lab;
}

export type ProbeEvent = Record<string, unknown> & { event: string };

export interface ProbeOutput {
  events: ProbeEvent[];
  stderr: () => string;
  /** Resolves with the first event (seen already or later) that matches. */
  waitFor(match: (event: ProbeEvent) => boolean, timeoutMs?: number): Promise<ProbeEvent>;
}

/** Collects a probe's JSON-lines stdout for the whole life of the process. */
export function collectProbeOutput(child: ChildProcess): ProbeOutput {
  const events: ProbeEvent[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let exited = false;
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        events.push(JSON.parse(line) as ProbeEvent);
      } catch {
        stderr += `(stdout) ${line}\n`;
      }
      for (const wake of waiters) wake();
    });
  }
  child.on('exit', () => {
    exited = true;
    for (const wake of waiters) wake();
  });
  return {
    events,
    stderr: () => stderr,
    waitFor(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = events.find(match);
          if (found) {
            cleanup();
            resolve(found);
          } else if (exited) {
            cleanup();
            reject(new Error(`probe exited before the expected event; stderr: ${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for a probe event; stderr: ${stderr}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

export const PROBE_SCRIPT = path.join(SIDECAR_DIR, 'test', 'support', 'netns-tcp-probe.ts');

/** `node --import tsx FILE ARGS`, with the Node running the tests. */
export function tsNode(file: string, args: readonly string[]): [string, string[]] {
  return [process.execPath, ['--import', 'tsx', file, ...args]];
}

/** Runs a command in a namespace without blocking the event loop (listeners report meanwhile). */
export function execAsync(ns: string, command: string, args: readonly string[]): Promise<CommandOutput> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
      cwd: SIDECAR_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
