import type { InboundPolicy, WatchResponse } from '@reseal/core';
import { deltaSize, emptyDelta, mergeDelta, type MeshDelta, type MeshTables } from './mesh-delta.js';

/** The transport under one Watch stream; the gRPC adapter implements it, tests fake it. */
export interface WatchSink {
  /** Sends one message; `done` runs once the transport has taken it (flow control permitting). */
  write(message: WatchResponse, done: (error?: Error | null) => void): void;
  /** Ends the stream; the peer is expected to reconnect and resnapshot. */
  end(reason: 'stalled' | 'shutdown' | 'write_failed'): void;
}

export interface WatchTarget {
  readonly namespace: string;
  readonly name: string;
  /** The pod authorized at the start; a later pod of the same name does not inherit the stream. */
  readonly uid?: string | undefined;
}

export interface WatchState {
  tables(): MeshTables;
  trustBundlePem(): string;
}

/**
 * One watching sidecar. At most one message is in flight; whatever changes meanwhile is folded
 * into a single pending delta, so a slow reader costs at most one copy of the tables and never
 * holds up the others. When the pending delta outgrows `maxPendingEntries` a fresh snapshot is
 * cheaper and is sent instead.
 */
export class WatchSubscriber {
  private version = 0;
  private inFlightSinceMs: number | undefined;
  private needsSnapshot = true;
  private pendingDelta: MeshDelta = emptyDelta();
  private policy: InboundPolicy;
  private policyFingerprint: string;
  private policyPending = false;
  private sentBundle = '';
  private closedFlag = false;
  /** When the oldest mesh change not yet sent to this stream happened (Date.now() ms). */
  private changeSinceMs: number | undefined;
  messagesSent = 0;
  snapshotsSent = 0;

  constructor(
    readonly target: WatchTarget,
    initialPolicy: InboundPolicy,
    private readonly sink: WatchSink,
    private readonly state: WatchState,
    private readonly maxPendingEntries: number,
    private readonly onClosed: (subscriber: WatchSubscriber, reason: string) => void,
    /** A message carrying a mesh change was taken by the transport, `ms` after the change. */
    private readonly onPushed?: (ms: number) => void,
  ) {
    this.policy = initialPolicy;
    this.policyFingerprint = JSON.stringify(initialPolicy);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Since when the current message waits for the transport; undefined when idle. */
  get inFlightSince(): number | undefined {
    return this.inFlightSinceMs;
  }

  start(): void {
    this.pump();
  }

  tablesChanged(delta: MeshDelta, changedAtMs?: number): void {
    if (this.closedFlag) return;
    this.noteChange(changedAtMs);
    if (this.needsSnapshot) return;
    mergeDelta(this.pendingDelta, delta);
    if (deltaSize(this.pendingDelta) > this.maxPendingEntries) {
      this.needsSnapshot = true;
      this.pendingDelta = emptyDelta();
    }
    this.pump();
  }

  /** Returns true when the policy differs from the last one this stream was given. */
  policyChanged(policy: InboundPolicy, changedAtMs?: number): boolean {
    const fingerprint = JSON.stringify(policy);
    if (this.closedFlag || fingerprint === this.policyFingerprint) return false;
    this.noteChange(changedAtMs);
    this.policy = policy;
    this.policyFingerprint = fingerprint;
    this.policyPending = true;
    this.pump();
    return true;
  }

  trustBundleChanged(): void {
    this.pump();
  }

  close(reason: 'stalled' | 'shutdown' | 'write_failed' | 'cancelled'): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.pendingDelta = emptyDelta();
    if (reason !== 'cancelled') this.sink.end(reason);
    this.onClosed(this, reason);
  }

  private noteChange(changedAtMs: number | undefined): void {
    if (changedAtMs === undefined) return;
    this.changeSinceMs = this.changeSinceMs === undefined ? changedAtMs : Math.min(this.changeSinceMs, changedAtMs);
  }

  private pump(): void {
    if (this.closedFlag || this.inFlightSinceMs !== undefined) return;
    const message = this.nextMessage();
    if (!message) return;
    this.inFlightSinceMs = Date.now();
    this.messagesSent++;
    // Whatever changed until now is in this message.
    const changeSince = this.changeSinceMs;
    this.changeSinceMs = undefined;
    this.sink.write(message, (error) => {
      this.inFlightSinceMs = undefined;
      if (error) {
        this.close('write_failed');
        return;
      }
      if (changeSince !== undefined) this.onPushed?.(Math.max(0, Date.now() - changeSince));
      this.pump();
    });
  }

  private nextMessage(): WatchResponse | undefined {
    const bundle = this.state.trustBundlePem();
    if (this.needsSnapshot) {
      const tables = this.state.tables();
      this.needsSnapshot = false;
      this.pendingDelta = emptyDelta();
      this.policyPending = false;
      this.sentBundle = bundle;
      this.snapshotsSent++;
      return {
        fullSnapshot: true,
        endpoints: [...tables.endpoints.values()].map((entry) => entry.value),
        removedEndpoints: [],
        services: [...tables.services.values()].map((entry) => entry.value),
        removedServices: [],
        inboundPolicy: this.policy,
        trustBundlePem: bundle,
        version: ++this.version,
      };
    }
    const delta = this.pendingDelta;
    const bundleChanged = bundle !== this.sentBundle;
    if (deltaSize(delta) === 0 && !this.policyPending && !bundleChanged) return undefined;
    this.pendingDelta = emptyDelta();
    const message: WatchResponse = {
      fullSnapshot: false,
      endpoints: [],
      removedEndpoints: [],
      services: [],
      removedServices: [],
      trustBundlePem: bundleChanged ? bundle : '',
      version: ++this.version,
    };
    for (const [ip, endpoint] of delta.endpoints) {
      if (endpoint) message.endpoints.push(endpoint);
      else message.removedEndpoints.push(ip);
    }
    for (const [clusterIp, service] of delta.services) {
      if (service) message.services.push(service);
      else message.removedServices.push(clusterIp);
    }
    if (this.policyPending) message.inboundPolicy = this.policy;
    this.policyPending = false;
    this.sentBundle = bundle;
    return message;
  }
}
