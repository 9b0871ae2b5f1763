import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { httpStatusOf } from '../kubernetes/api-errors.js';
import { decide, observe, type ObservedRecord } from './lease-record.js';

export interface LeaseElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  leaseName: string;
  /** Unique per process: two candidates with the same identity would both lead. */
  identity: string;
  logger: Logger;
  /** How long others wait after the last renewal they saw before taking over. Default 15. */
  leaseDurationSeconds?: number;
  /** How often the leader renews. Default 5 000 ms. */
  renewIntervalMs?: number;
  /**
   * The leader steps down when it has not renewed for this long. It must be shorter than the
   * lease duration, so a partitioned leader stops before anyone else may start. Default 10 000 ms.
   */
  renewDeadlineMs?: number;
  /** How often a follower (or a leader whose renewal failed) tries again. Default 2 000 ms. */
  retryIntervalMs?: number;
  onStartedLeading: () => void;
  /** On stop() the lease is released only after a returned promise settles. */
  onStoppedLeading: () => void | Promise<void>;
}

type Attempt = 'leading' | 'held' | 'failed';

const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'reseal-control-plane' };

/**
 * Leader election on a coordination.k8s.io/v1 Lease, for work that one replica must do
 * alone (writing the webhook certificate). Every write is a replace with the read
 * resourceVersion, so two candidates racing for a free lease cannot both win: the loser
 * gets 409 and reads the winner's record next round. API errors never end the loop.
 */
export class LeaseElector {
  private readonly api: CoordinationV1Api;
  private readonly durationSeconds: number;
  private readonly renewIntervalMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryIntervalMs: number;
  private observed: ObservedRecord | undefined;
  private isLeading = false;
  private lastRenewal = 0;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private lastWaitLogged: string | undefined;

  constructor(private readonly options: LeaseElectorOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.durationSeconds = options.leaseDurationSeconds ?? 15;
    this.renewIntervalMs = options.renewIntervalMs ?? 5000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryIntervalMs = options.retryIntervalMs ?? 2000;
    if (this.renewDeadlineMs >= this.durationSeconds * 1000) throw new RangeError('the renew deadline must be shorter than the lease duration');
    if (this.renewIntervalMs >= this.renewDeadlineMs) throw new RangeError('the renew interval must be shorter than the renew deadline');
  }

  get identity(): string {
    return this.options.identity;
  }

  get leading(): boolean {
    return this.isLeading;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /**
   * Stops campaigning. A leader stops its work first and then, with `release` (the default),
   * clears the holder so a successor need not wait out the lease. `release: false` is what
   * a crash looks like to the others.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    // A request to an unresponsive API server must not hold shutdown forever.
    await Promise.race([this.loop, delay(this.renewDeadlineMs)]);
    const wasLeading = this.isLeading;
    // The successor must not start while our leader-only work may still be writing.
    await this.stepDown('stopped');
    if (wasLeading && options.release !== false) await this.release();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const startedAt = Date.now();
      const attempt = await this.tryAcquireOrRenew(startedAt);
      if (this.stopped) return;
      if (attempt === 'leading') {
        // The time the attempt began, not ended: others count from when they saw the
        // write, which is no earlier, so our deadline stays on the safe side.
        this.lastRenewal = startedAt;
        if (!this.isLeading) {
          this.isLeading = true;
          this.options.logger.info({ event: 'leader_elected', lease: this.leaseRef(), identity: this.identity }, 'became leader');
          void this.callback(this.options.onStartedLeading, 'onStartedLeading');
        }
      } else if (this.isLeading && (attempt === 'held' || Date.now() - this.lastRenewal >= this.renewDeadlineMs)) {
        await this.stepDown(attempt === 'held' ? 'lease taken by another candidate' : 'could not renew before the deadline');
      }
      await this.sleep(this.isLeading && attempt === 'leading' ? this.renewIntervalMs : this.retryIntervalMs);
    }
  }

  private async tryAcquireOrRenew(now: number): Promise<Attempt> {
    const { namespace, leaseName: name, identity, logger } = this.options;
    try {
      const lease = await this.read();
      if (!lease) {
        const created = await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace, labels: MANAGED_BY },
            spec: { holderIdentity: identity, leaseDurationSeconds: this.durationSeconds, acquireTime: new V1MicroTime(now), renewTime: new V1MicroTime(now), leaseTransitions: 0 },
          },
        });
        this.observed = observe(this.observed, created.spec, Date.now());
        return 'leading';
      }
      // Seen now, after the read returned: never earlier than the holder's write, so the
      // expiry we compute from it errs towards waiting longer.
      this.observed = observe(this.observed, lease.spec, Date.now());
      const decision = decide(lease.spec, this.observed, identity, Date.now(), this.durationSeconds);
      if (decision.kind === 'wait') {
        if (this.lastWaitLogged !== decision.holder) {
          this.lastWaitLogged = decision.holder;
          logger.info({ event: 'leader_observed', lease: this.leaseRef(), holder: decision.holder }, 'another replica leads');
        }
        return 'held';
      }
      if (decision.kind === 'acquire' && decision.previousHolder !== undefined) {
        logger.info({ event: 'leader_lease_expired', lease: this.leaseRef(), previousHolder: decision.previousHolder }, 'the lease expired; taking over');
      }
      const spec = lease.spec ?? {};
      const renewing = decision.kind === 'renew';
      const updated = await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: identity,
            leaseDurationSeconds: this.durationSeconds,
            renewTime: new V1MicroTime(now),
            acquireTime: renewing ? spec.acquireTime : new V1MicroTime(now),
            leaseTransitions: renewing ? spec.leaseTransitions : (spec.leaseTransitions ?? 0) + 1,
          },
        },
      });
      this.observed = observe(this.observed, updated.spec, Date.now());
      if (!renewing) this.lastWaitLogged = undefined;
      return 'leading';
    } catch (error) {
      // 409: someone wrote between our read and write. Not proof of a new holder (a label
      // edit does it too), so a leader keeps leading until its deadline; the next read decides.
      if (httpStatusOf(error) === 409) {
        logger.debug({ event: 'leader_election_conflict', lease: this.leaseRef() }, 'the lease changed while being written');
        return 'failed';
      }
      logger.warn({ event: 'leader_election_error', lease: this.leaseRef(), err: error }, 'could not read or write the lease');
      return 'failed';
    }
  }

  private async release(): Promise<void> {
    const { namespace, leaseName: name, identity, logger } = this.options;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity !== identity) return;
      const now = new V1MicroTime();
      // The empty holder tells candidates the lease is free; they take it without waiting.
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now } },
      });
      logger.info({ event: 'leader_released', lease: this.leaseRef(), identity }, 'released the lease');
    } catch (error) {
      logger.warn({ event: 'leader_release_failed', lease: this.leaseRef(), err: error }, 'could not release the lease; others take over when it expires');
    }
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ name: this.options.leaseName, namespace: this.options.namespace });
    } catch (error) {
      if (httpStatusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async stepDown(reason: string): Promise<void> {
    if (!this.isLeading) return;
    this.isLeading = false;
    this.options.logger.info({ event: 'leader_lost', lease: this.leaseRef(), identity: this.identity, reason }, 'no longer leader');
    await this.callback(this.options.onStoppedLeading, 'onStoppedLeading');
  }

  private async callback(fn: () => void | Promise<void>, name: string): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.options.logger.error({ event: 'leader_callback_failed', callback: name, err: error }, 'leader-election callback failed');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      // Whatever else runs (servers) keeps the process alive; this loop alone should not.
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private leaseRef(): string {
    return `${this.options.namespace}/${this.options.leaseName}`;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
