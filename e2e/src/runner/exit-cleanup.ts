// Last-resort cleanup when the test process exits without calling stop() (a failed
// assertion, process.exit, Ctrl-C): SIGKILL every container process group and delete the
// network namespaces, links and directories still registered. Synchronous, because an
// 'exit' handler cannot wait.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const groups = new Set<number>();
const netns = new Set<string>();
const links = new Set<string>();
const dirs = new Set<string>();
let installed = false;

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function runAll(): void {
  for (const pgid of groups) killGroup(pgid);
  for (const name of netns) spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  for (const name of links) spawnSync('ip', ['link', 'del', name], { stdio: 'ignore' });
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  groups.clear();
  netns.clear();
  links.clear();
  dirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // only when nobody else handles the signal: then re-raise it so the default action
    // (terminate) still happens after our cleanup
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      runAll();
      process.kill(process.pid, signal);
    });
  }
}

export const exitCleanup = {
  addGroup(pgid: number): void {
    install();
    groups.add(pgid);
  },
  removeGroup(pgid: number): void {
    groups.delete(pgid);
  },
  addNetns(name: string): void {
    install();
    netns.add(name);
  },
  removeNetns(name: string): void {
    netns.delete(name);
  },
  addLink(name: string): void {
    install();
    links.add(name);
  },
  removeLink(name: string): void {
    links.delete(name);
  },
  addDir(path: string): void {
    install();
    dirs.add(path);
  },
  removeDir(path: string): void {
    dirs.delete(path);
  },
};
