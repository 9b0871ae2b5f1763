import type { Counter, Histogram, Meter } from '@opentelemetry/api';

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
});

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
  #sources: ControlPlaneGaugeSources | undefined;

  constructor(meter: Meter, caExpiry: () => CaExpiry) {
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
      .addCallback((result) => result.observe(caExpiry().rootNotAfter.getTime() / 1000));
    meter
      .createObservableGauge(CONTROL_PLANE_METRIC_NAMES.issuerExpiry, { description: 'NotAfter of the intermediate that signs workload certificates', unit: 's' })
      .addCallback((result) => result.observe(caExpiry().issuerNotAfter.getTime() / 1000));
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
  }

  /** Connects the gauges to the running services (they start after the metrics exist). */
  observe(sources: ControlPlaneGaugeSources): void {
    this.#sources = sources;
  }
}
