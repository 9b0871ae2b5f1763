// kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go): readers see either the old or
// the new set of files, never a mix. Payload lives in a timestamped dir; `..data` points at
// it and is swapped by rename; each top-level name is a symlink through `..data`.
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FileSet } from './volume-contents.js';

const DATA = '..data';

function timestampPrefix(now = new Date()): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `..${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}.`;
}

async function currentMatches(dir: string, files: FileSet, gid: number | undefined): Promise<boolean> {
  let target: string;
  try {
    target = await readlink(join(dir, DATA));
  } catch {
    return false;
  }
  const base = join(dir, target);
  const existing: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(base, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(path);
      else existing.push(path);
    }
  };
  try {
    await walk('');
  } catch {
    return false;
  }
  if (existing.length !== files.size) return false;
  for (const [path, file] of files) {
    try {
      const st = await stat(join(base, path));
      if ((st.mode & 0o7777) !== (gid === undefined ? file.mode : file.mode | 0o040)) return false;
      if (file.uid !== undefined && st.uid !== file.uid) return false;
      if (gid !== undefined && st.gid !== gid) return false;
      if (!(await readFile(join(base, path))).equals(file.data)) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Writes `files` into `dir` atomically. Returns false when the content was already current.
 * `fsGroup`, when set, group-owns the files (and makes them group-readable), as kubelet does.
 */
export async function writeAtomically(dir: string, files: FileSet, fsGroup?: number): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (await currentMatches(dir, files, fsGroup)) return false;

  const oldTarget = await readlink(join(dir, DATA)).catch(() => undefined);
  const payloadDir = await mkdtemp(join(dir, timestampPrefix()));
  await chmod(payloadDir, 0o755);
  for (const [path, file] of files) {
    const full = join(payloadDir, path);
    await mkdir(dirname(full), { recursive: true, mode: 0o755 });
    await writeFile(full, file.data);
    const mode = fsGroup === undefined ? file.mode : file.mode | 0o040;
    await chmod(full, mode);
    if (file.uid !== undefined || fsGroup !== undefined) await chown(full, file.uid ?? 0, fsGroup ?? 0);
  }

  const tmpLink = join(dir, `${DATA}_tmp`);
  await rm(tmpLink, { force: true });
  await symlink(payloadDir.slice(dir.length + 1), tmpLink);
  await rename(tmpLink, join(dir, DATA));

  const topLevel = new Set([...files.keys()].map((p) => p.split('/')[0] ?? p));
  for (const name of topLevel) {
    const link = join(dir, name);
    const st = await lstat(link).catch(() => undefined);
    if (!st) await symlink(join(DATA, name), link);
  }
  for (const name of await readdir(dir)) {
    if (name.startsWith('..') || topLevel.has(name)) continue;
    const st = await lstat(join(dir, name));
    if (st.isSymbolicLink()) await unlink(join(dir, name));
  }
  if (oldTarget && oldTarget !== DATA) await rm(join(dir, oldTarget), { recursive: true, force: true });
  return true;
}
