import { readFile } from 'node:fs/promises';

// Kubernetes updates Secret and ConfigMap volumes by swapping a symlink (..data), which
// inotify on the file itself misses; re-reading on an interval sees every update, and the
// files are a few kilobytes.

export interface FilePoller {
  stop(): void;
}

/**
 * Calls onChange with the files' contents whenever any of them differs from the last call
 * (not for the contents read at start, which the caller already has). A read error (a file
 * in the middle of being replaced) is reported and retried on the next tick.
 */
export function pollFiles(
  paths: readonly string[],
  initial: readonly Buffer[] | undefined,
  intervalMs: number,
  onChange: (contents: Buffer[]) => void,
  onError: (error: unknown) => void,
): FilePoller {
  let last = initial;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    Promise.all(paths.map((path) => readFile(path)))
      .then((contents) => {
        if (last && contents.every((content, i) => last?.[i]?.equals(content))) return;
        last = contents;
        onChange(contents);
      })
      .catch(onError)
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
