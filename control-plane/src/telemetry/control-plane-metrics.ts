import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';

export interface CaExpiry {
  rootNotAfter: Date;
  issuerNotAfter: Date;
}

/** Metric names as exported to Prometheus (counters already carry `_total`). */
export const CONTROL_PLANE_METRIC_NAMES = Object.freeze({
  issued: 'reseal_certificates_issued_total',
  refused: 'reseal_certificates_refused_total',
  issuanceDuration: 'reseal_certificate_issuance_duration_seconds',
  requestsInFlight: 'reseal_certificate_requests_in_flight',
  rootExpiry: 'reseal_ca_root_expiry_timestamp_seconds',
  issuerExpiry: 'reseal_ca_issuer_expiry_timestamp_seconds',
  discoverySubscribers: 'reseal_discovery_subscribers',
  discoveryPushDuration: 'reseal_discovery_push_duration_seconds',
  leader: 'reseal_leader',
  leaderTransitions: 'reseal_leader_transitions_total',
  caTrustAnchors: 'reseal_ca_trust_anchors',
  caLastReload: 'reseal_ca_last_reload_timestamp_seconds',
  caReloads: 'reseal_ca_reloads_total',
  trustBundlePublish: 'reseal_trust_bundle_publish_total',
});

/** Label values of the outcome counters; fixed, so every series can be created at 0. */
export type ReloadResult = 'ok' | 'failed';
export type PublishResult = 'ok' | 'failed';
export type LeaderTransition = 'acquired' | 'lost';

/** What the discovery and identity services report to the gauges, read at each collection. */
export interface ControlPlaneGaugeSources {
  /** Certify calls being processed now (the CSR queue depth). */
  certifyInFlight(): number;
  /** Open discovery Watch streams. */
  discoverySubscribers(): number;
}

/** The control plane's own instruments; reasons and auth methods are fixed, small sets. */
export class ControlPlaneMetrics {
  readonly issued: Counter;
  readonly refused: Counter;
  readonly issuanceSeconds: Histogram;
  /** Time from a mesh change to the message carrying it taken by a watcher's stream. */
  readonly discoveryPushSeconds: Histogram;
  readonly #leaderTransitions: Counter;
  readonly #caReloads: Counter;
  readonly #trustBundlePublish: Counter;
  #sources: ControlPlaneGaugeSources | undefined;
  #leading: (() => boolean) | undefined;
  #ca: { trustAnchors: number; loadedAtSeconds: number } | undefined;

  /** `caExpiry` returns undefined while the CA is still being loaded (the gauges are then absent). */
  constructor(meter: Meter, caExpiry: () => CaExpiry | undefined) {
    this.issued = meter.createCounter(CONTROL_PLANE_METRIC_NAMES.issued, { description: 'Workload certificates issued, by how the caller authenticated' });
    this.refused = meter.createCounter(CONTROL_PLANE_METRIC_NAMES.refused, { description: 'Certificate requests refused, by reason' });
    this.issuanceSeconds = meter.createHistogram(CONTROL_PLANE_METRIC_NAMES.issuanceDuration, {
      description: 'Time to authenticate, validate and sign one certificate request',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] },
    });
    this.discoveryPushSeconds = meter.createHistogram(CONTROL_PLANE_METRIC_NAMES.discoveryPushDuration, {
      description: 'Time from a mesh change (first change of a debounced burst) to the watcher stream taking the message that carries it',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] },
    });
    meter
      .createObservableGauge(CONTROL_PLANE_METRIC_NAMES.rootExpiry, { description: 'NotAfter of the earliest-expiring trust anchor', unit: 's' })
      .addCallback((result) => {
        const expiry = caExpiry();
        if (expiry !== undefined) result.observe(expiry.rootNotAfter.getTime() / 1000);
      });
    meter
      .createObservableGauge(CONTROL_PLANE_METRIC_NAMES.issuerExpiry, { description: 'NotAfter of the intermediate that signs workload certificates', unit: 's' })
      .addCallback((result) => {
        const expiry = caExpiry();
        if (expiry !== undefined) result.observe(expiry.issuerNotAfter.getTime() / 1000);
      });
    meter
      .createObservableGauge(CONTROL_PLANE_METRIC_NAMES.requestsInFlight, { description: 'Certificate requests (CSRs) being authenticated and signed now' })
      .addCallback((result) => {
        if (this.#sources) result.observe(this.#sources.certifyInFlight());
      });
    meter
      .createObservableGauge(CONTROL_PLANE_METRIC_NAMES.discoverySubscribers, { description: 'Sidecars watching discovery on this replica (open Watch streams)' })
      .addCallback((result) => {
        if (this.#sources) result.observe(this.#sources.discoverySubscribers());
      });
    meter
      .createObservableGauge(CONTROL_PLANE_METRIC_NAMES.leader, { description: 'Whether this replica holds the leader Lease (1) or not (0)' })
      .addCallback((result) => {
        if (this.#leading) result.observe(this.#leading() ? 1 : 0);
      });
    this.#leaderTransitions = meter.createCounter(CONTROL_PLANE_METRIC_NAMES.leaderTransitions, { description: 'Times this replica became leader (acquired) or stopped leading (lost)' });
    meter
      .createObservableGauge(CONTROL_PLANE_METRIC_NAMES.caTrustAnchors, { description: 'Roots (trust anchors) in the trust bundle in use; more than one during a root rotation' })
      .addCallback((result) => {
        if (this.#ca) result.observe(this.#ca.trustAnchors);
      });
    meter
      .createObservableGauge(CONTROL_PLANE_METRIC_NAMES.caLastReload, { description: 'When the CA material in use was loaded (at start) or last reloaded successfully', unit: 's' })
      .addCallback((result) => {
        if (this.#ca) result.observe(this.#ca.loadedAtSeconds);
      });
    this.#caReloads = meter.createCounter(CONTROL_PLANE_METRIC_NAMES.caReloads, { description: 'Reloads of the CA material after start, by result (failed: the CA Secret could not be read or its new version is unusable; the CA in use stays)' });
    this.#trustBundlePublish = meter.createCounter(CONTROL_PLANE_METRIC_NAMES.trustBundlePublish, { description: 'Writes of the trust-bundle ConfigMap to a namespace (create or update), by result; failed excludes conflicts with a concurrent writer' });
  }

  /** Connects the gauges to the running services (they start after the metrics exist). */
  observe(sources: ControlPlaneGaugeSources): void {
    this.#sources = sources;
  }

  /** Leader election runs: the gauge reads `leading` at each collection; both transitions exist at 0. */
  observeLeadership(leading: () => boolean): void {
    this.#leading = leading;
    for (const transition of ['acquired', 'lost'] satisfies LeaderTransition[]) this.#add(this.#leaderTransitions, 0, { transition });
  }

  leadershipChanged(transition: LeaderTransition): void {
    this.#add(this.#leaderTransitions, 1, { transition });
  }

  /** The CA in use was loaded (at start) or replaced: its roots, and when. */
  caLoaded(trustAnchors: number, at: Date = new Date()): void {
    this.#ca = { trustAnchors, loadedAtSeconds: at.getTime() / 1000 };
  }

  /** The CA material is watched for changes: both results exist at 0 from start. */
  watchCaReloads(): void {
    for (const result of ['ok', 'failed'] satisfies ReloadResult[]) this.#add(this.#caReloads, 0, { result });
  }

  caReloaded(result: ReloadResult): void {
    this.#add(this.#caReloads, 1, { result });
  }

  /** The trust bundle is published to namespaces: both results exist at 0 from start. */
  watchTrustBundlePublishing(): void {
    for (const result of ['ok', 'failed'] satisfies PublishResult[]) this.#add(this.#trustBundlePublish, 0, { result });
  }

  trustBundlePublished(result: PublishResult): void {
    this.#add(this.#trustBundlePublish, 1, { result });
  }

  /** Counting never fails the work being counted. */
  #add(counter: Counter, value: number, attributes: Attributes): void {
    try {
      counter.add(value, attributes);
    } catch {
      // A metric lost is better than a reload, a publication or a hand-over broken.
    }
  }
}
