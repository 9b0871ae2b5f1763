// A small "cluster network" for the mesh tests: a hub namespace holding a bridge (and the
// control plane), and one namespace per pod joined to it by a veth. Addresses come from
// 198.18.0.0/15 only and no namespace has a default route, so nothing leaves the machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';

const PREFIX = 'rsmesh';
export const HUB_ADDRESS = '198.18.10.1';

export interface MeshLab {
  readonly hub: string;
  /** Namespace name of a pod. */
  ns(pod: string): string;
  /** The hub-side veth of a pod, where its traffic can be captured. */
  hubLink(pod: string): string;
  addPod(pod: string, address: string): void;
  run(ns: string, command: string, args: readonly string[], options?: { uid?: number; allowFailure?: boolean }): { code: number; stdout: string; stderr: string };
  spawn(ns: string, command: string, args: readonly string[], options?: { uid?: number; env?: NodeJS.ProcessEnv }): ChildProcess;
  destroy(): void;
}

function sh(command: string, args: readonly string[], allowFailure = false): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  const out = { code: result.status ?? -1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
  if (!allowFailure && out.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${out.code}): ${out.stderr}`);
  return out;
}

/** Namespaces of runs that were killed before their cleanup (their pid is gone). */
function removeAbandoned(): void {
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive || pid === process.pid) sh('ip', ['netns', 'del', name], true);
  }
}

export function createMeshLab(): MeshLab {
  if (process.getuid?.() !== 0) throw new Error('mesh tests create network namespaces and iptables rules: run them as root');
  removeAbandoned();
  const base = `${PREFIX}${process.pid}`;
  const hub = `${base}-hub`;
  const namespaces: string[] = [];
  const children = new Set<ChildProcess>();
  let index = 0;
  const links = new Map<string, string>();

  sh('ip', ['netns', 'add', hub]);
  namespaces.push(hub);
  sh('ip', ['-n', hub, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
  sh('ip', ['-n', hub, 'addr', 'add', `${HUB_ADDRESS}/24`, 'dev', 'br0']);
  sh('ip', ['-n', hub, 'link', 'set', 'br0', 'up']);

  const uidPrefix = (uid: number | undefined): string[] => (uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups']);

  return {
    hub,
    ns: (pod) => `${base}-${pod}`,
    hubLink: (pod) => {
      const link = links.get(pod);
      if (!link) throw new Error(`no pod ${pod}`);
      return link;
    },
    addPod(pod, address) {
      const ns = `${base}-${pod}`;
      const hostSide = `rsv${index++}`;
      sh('ip', ['netns', 'add', ns]);
      namespaces.push(ns);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', hub, 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh('ip', ['-n', hub, 'link', 'set', hostSide, 'master', 'br0']);
      sh('ip', ['-n', hub, 'link', 'set', hostSide, 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      links.set(pod, hostSide);
    },
    run(ns, command, args, options = {}) {
      return sh('ip', ['netns', 'exec', ns, ...uidPrefix(options.uid), command, ...args], options.allowFailure ?? false);
    },
    spawn(ns, command, args, options = {}) {
      const child = spawn('ip', ['netns', 'exec', ns, ...uidPrefix(options.uid), command, ...args], {
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    destroy() {
      for (const child of children) child.kill('SIGKILL');
      // Deleting a namespace drops its iptables rules with it.
      for (const ns of namespaces.reverse()) sh('ip', ['netns', 'del', ns], true);
    },
  };
}
