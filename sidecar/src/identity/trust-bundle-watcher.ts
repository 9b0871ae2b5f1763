import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { parseTrustBundle, type TrustBundle, type TrustBundleSource } from './trust-bundle.js';

export interface TrustBundleWatcherOptions {
  /** The bundle file in the mounted ConfigMap, e.g. /var/run/reseal/trust-bundle/ca.crt. */
  path: string;
  logger: Logger;
  /** Content is re-read this often whatever the watcher says; default 5 s. */
  pollIntervalMs?: number;
  /** Events arrive in bursts while kubelet swaps the volume; wait this long before reading. Default 100 ms. */
  debounceMs?: number;
}

/**
 * Hot reload of the mounted trust bundle. Kubelet updates a ConfigMap volume by writing a new
 * timestamped directory and renaming the `..data` symlink over the old one; the bundle path is
 * a symlink through `..data`, so a watch on the file itself keeps watching the old inode and
 * never fires. The directory is watched instead, and the content is also polled, because
 * fs.watch can miss events (overlay filesystems, inotify limits). A file that does not parse
 * as CA certificates is ignored and the previous bundle stays in force.
 */
export class TrustBundleWatcher implements TrustBundleSource {
  private readonly listeners = new Set<(bundle: TrustBundle) => void>();
  private readonly pollIntervalMs: number;
  private readonly debounceMs: number;
  private bundle: TrustBundle | undefined;
  private lastText: string | undefined;
  private lastProblem: string | undefined;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private queued: Promise<boolean> | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private running = false;

  constructor(private readonly options: TrustBundleWatcherOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? 5000;
    this.debounceMs = options.debounceMs ?? 100;
  }

  get path(): string {
    return this.options.path;
  }

  current(): TrustBundle | undefined {
    return this.bundle;
  }

  onChange(listener: (bundle: TrustBundle) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the file once, then follows it. Resolves whether or not a valid bundle was found: a missing ConfigMap is waited for, not fatal. */
  async start(): Promise<TrustBundle | undefined> {
    if (this.running) return this.bundle;
    this.running = true;
    this.startWatching();
    this.pollTimer = setInterval(() => {
      if (!this.watcher) this.startWatching();
      void this.reload();
    }, this.pollIntervalMs);
    // The poll only backs up the watcher; it must not keep a finished process alive.
    this.pollTimer.unref();
    await this.reload();
    return this.bundle;
  }

  stop(): void {
    this.running = false;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.pollTimer = undefined;
    this.debounceTimer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  /**
   * Reads the file now (after any read in progress, which may have opened the file before the
   * latest change); true when a new valid bundle replaced the old one.
   */
  reload(): Promise<boolean> {
    if (this.queued) return this.queued;
    const run = this.tail.then(() => {
      this.queued = undefined;
      return this.readOnce();
    });
    this.queued = run;
    this.tail = run.catch(() => false);
    return run;
  }

  private async readOnce(): Promise<boolean> {
    const { path, logger } = this.options;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      this.problem(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      return false;
    }
    if (text === this.lastText) return false;
    this.lastText = text;
    let next: TrustBundle;
    try {
      next = parseTrustBundle(text);
    } catch (error) {
      this.problem(`${path} is not a valid trust bundle, keeping the previous one: ${(error as Error).message}`);
      return false;
    }
    this.lastProblem = undefined;
    if (next.pem === this.bundle?.pem) return false;
    const previousRoots = this.bundle?.certificates.length;
    this.bundle = next;
    logger.info(
      {
        event: 'trust_bundle_loaded',
        path,
        roots: next.certificates.length,
        previousRoots,
        fingerprints: next.certificates.map((c) => c.fingerprint256),
      },
      'trust bundle loaded',
    );
    for (const listener of this.listeners) {
      try {
        listener(next);
      } catch (error) {
        logger.error({ event: 'trust_bundle_listener_failed', err: error }, 'a trust bundle listener threw');
      }
    }
    return true;
  }

  /** Logged once per distinct problem: the poll would otherwise repeat it every few seconds. */
  private problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.options.logger.warn({ event: 'trust_bundle_rejected', path: this.options.path, reason: message, keeping: this.bundle !== undefined }, message);
  }

  private startWatching(): void {
    try {
      this.watcher = watch(dirname(this.options.path), { persistent: false }, () => this.scheduleReload());
      this.watcher.on('error', () => {
        // The directory went away (volume remounted); the next poll sets up a new watch.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // Not there yet: polling covers it until the directory exists.
      this.watcher = undefined;
    }
  }

  private scheduleReload(): void {
    if (!this.running) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.reload();
    }, this.debounceMs);
    this.debounceTimer.unref();
  }
}
