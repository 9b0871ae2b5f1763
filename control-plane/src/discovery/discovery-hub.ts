import type { Logger } from 'pino';
import { diffTables, EMPTY_TABLES, type MeshTables } from './mesh-delta.js';
import type { MeshModel } from './mesh-model.js';
import { WatchSubscriber, type WatchSink, type WatchTarget } from './watch-subscriber.js';

export interface DiscoveryHubOptions {
  logger: Logger;
  trustBundlePem: string;
  /** Quiet time before a burst of changes is sent; bursts (a rollout) become one delta. */
  debounceMs?: number;
  /** Upper bound on the wait under continuous churn. */
  maxDelayMs?: number;
  /** A stream whose message has not been taken for this long is ended (the sidecar reconnects). */
  stallTimeoutMs?: number;
  /** A pending delta larger than this becomes a resnapshot. Default: max(1000, half the tables). */
  maxPendingEntries?: number;
  /** A mesh change reached one watcher's transport `seconds` after it happened (push latency). */
  onPushed?: (seconds: number) => void;
}

/**
 * Fans the mesh model out to every watching sidecar: rebuilds the tables when the model
 * changed (debounced), diffs them once, and hands the same delta to every stream; recompiles
 * each watcher's inbound policy when pods, namespaces or policies changed.
 */
export class DiscoveryHub {
  private tablesValue: MeshTables = EMPTY_TABLES;
  private builtTopology = -1;
  private builtPolicy = -1;
  private readonly subscribers = new Set<WatchSubscriber>();
  private timer: NodeJS.Timeout | undefined;
  private dirtySinceMs: number | undefined;
  private readonly sweeper: NodeJS.Timeout;
  private syncedValue = false;
  private readonly syncWaiters = new Set<(synced: boolean) => void>();
  private bundle: string;
  private readonly debounceMs: number;
  private readonly maxDelayMs: number;
  private readonly stallTimeoutMs: number;
  private closedValue = false;

  constructor(
    private readonly model: MeshModel,
    private readonly options: DiscoveryHubOptions,
  ) {
    this.bundle = options.trustBundlePem;
    this.debounceMs = options.debounceMs ?? 50;
    this.maxDelayMs = options.maxDelayMs ?? 500;
    this.stallTimeoutMs = options.stallTimeoutMs ?? 30_000;
    this.sweeper = setInterval(() => this.endStalled(), Math.max(250, Math.floor(this.stallTimeoutMs / 4)));
    this.sweeper.unref();
  }

  get synced(): boolean {
    return this.syncedValue;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  tables(): MeshTables {
    return this.tablesValue;
  }

  trustBundlePem(): string {
    return this.bundle;
  }

  /** The sources have listed everything once; until then watchers wait (a partial snapshot would look like deletions). */
  markSynced(): void {
    if (this.syncedValue) return;
    this.syncedValue = true;
    this.flush();
    for (const waiter of this.syncWaiters) waiter(true);
    this.syncWaiters.clear();
  }

  /** Resolves true once synced, false after `timeoutMs`. */
  whenSynced(timeoutMs: number): Promise<boolean> {
    if (this.syncedValue) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (synced: boolean): void => {
        clearTimeout(timer);
        resolve(synced);
      };
      const timer = setTimeout(() => {
        this.syncWaiters.delete(done);
        resolve(false);
      }, timeoutMs);
      this.syncWaiters.add(done);
    });
  }

  /** The model changed; send the result after a short quiet period. */
  markDirty(): void {
    if (this.closedValue) return;
    const now = Date.now();
    this.dirtySinceMs ??= now;
    if (this.timer) clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.debounceMs, this.dirtySinceMs + this.maxDelayMs - now));
    this.timer = setTimeout(() => this.flush(), wait);
  }

  /** The CA's roots changed: every stream gets the new bundle. */
  setTrustBundle(pem: string): void {
    if (pem === this.bundle) return;
    this.bundle = pem;
    this.options.logger.info({ event: 'discovery_trust_bundle_changed', subscribers: this.subscribers.size }, 'pushing the new trust bundle to watchers');
    for (const subscriber of this.subscribers) subscriber.trustBundleChanged();
  }

  /**
   * Starts a stream for a pod the caller was authorized for; sends the snapshot at once.
   * Undefined when the pod is unknown (the caller checked, but it may just have gone).
   */
  subscribe(target: WatchTarget, sink: WatchSink, onClosed: (reason: string, subscriber: WatchSubscriber) => void): WatchSubscriber | undefined {
    if (this.closedValue) return undefined;
    const compiled = this.model.inboundPolicy(target.namespace, target.name, target.uid);
    if (!compiled) return undefined;
    this.logWarnings(target, compiled.warnings);
    const maxPending = this.options.maxPendingEntries ?? Math.max(1000, Math.floor((this.tablesValue.endpoints.size + this.tablesValue.services.size) / 2));
    const onPushed = this.options.onPushed;
    const subscriber = new WatchSubscriber(
      target,
      compiled.policy,
      sink,
      this,
      maxPending,
      (closed, reason) => {
        this.subscribers.delete(closed);
        onClosed(reason, closed);
      },
      onPushed === undefined ? undefined : (ms) => onPushed(ms / 1000),
    );
    this.subscribers.add(subscriber);
    subscriber.start();
    return subscriber;
  }

  /** Rebuilds and sends now; normally the debounce timer calls it. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Push latency counts from the first change of the burst, debounce included.
    const changedAtMs = this.dirtySinceMs ?? Date.now();
    this.dirtySinceMs = undefined;
    if (!this.syncedValue || this.closedValue) return;
    const revision = this.model.revision;
    if (revision.topology !== this.builtTopology) {
      this.builtTopology = revision.topology;
      const next = this.model.buildTables();
      const delta = diffTables(this.tablesValue, next);
      this.tablesValue = next;
      if (delta.endpoints.size + delta.services.size > 0) {
        for (const subscriber of this.subscribers) subscriber.tablesChanged(delta, changedAtMs);
      }
    }
    if (revision.policy !== this.builtPolicy) {
      this.builtPolicy = revision.policy;
      for (const subscriber of this.subscribers) {
        // A pod that is gone keeps its last policy: it is shutting down, and nothing it serves
        // should open up on the way out.
        const { namespace, name, uid } = subscriber.target;
        const compiled = this.model.inboundPolicy(namespace, name, uid);
        if (compiled && subscriber.policyChanged(compiled.policy, changedAtMs)) this.logWarnings(subscriber.target, compiled.warnings);
      }
    }
  }

  /** Ends every stream (sidecars reconnect to another replica or after the restart). */
  close(): void {
    this.closedValue = true;
    if (this.timer) clearTimeout(this.timer);
    clearInterval(this.sweeper);
    for (const subscriber of [...this.subscribers]) subscriber.close('shutdown');
    for (const waiter of this.syncWaiters) waiter(false);
    this.syncWaiters.clear();
  }

  private endStalled(): void {
    const now = Date.now();
    for (const subscriber of [...this.subscribers]) {
      const since = subscriber.inFlightSince;
      if (since !== undefined && now - since > this.stallTimeoutMs) subscriber.close('stalled');
    }
  }

  private logWarnings(target: WatchTarget, warnings: readonly string[]): void {
    if (warnings.length === 0) return;
    this.options.logger.warn({ event: 'inbound_policy_warning', namespace: target.namespace, pod: target.name, warnings }, 'inbound policy compiled with warnings');
  }
}
