import type { Counter, Histogram, Meter } from '@opentelemetry/api';

export interface CaExpiry {
  rootNotAfter: Date;
  issuerNotAfter: Date;
}

/** The control plane's own instruments; reasons and auth methods are fixed, small sets. */
export class ControlPlaneMetrics {
  readonly issued: Counter;
  readonly refused: Counter;
  readonly issuanceSeconds: Histogram;

  constructor(meter: Meter, caExpiry: () => CaExpiry) {
    this.issued = meter.createCounter('reseal_certificates_issued_total', { description: 'Workload certificates issued, by how the caller authenticated' });
    this.refused = meter.createCounter('reseal_certificates_refused_total', { description: 'Certificate requests refused, by reason' });
    this.issuanceSeconds = meter.createHistogram('reseal_certificate_issuance_duration_seconds', {
      description: 'Time to authenticate, validate and sign one certificate request',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] },
    });
    meter
      .createObservableGauge('reseal_ca_root_expiry_timestamp_seconds', { description: 'NotAfter of the earliest-expiring trust anchor', unit: 's' })
      .addCallback((result) => result.observe(caExpiry().rootNotAfter.getTime() / 1000));
    meter
      .createObservableGauge('reseal_ca_issuer_expiry_timestamp_seconds', { description: 'NotAfter of the intermediate that signs workload certificates', unit: 's' })
      .addCallback((result) => result.observe(caExpiry().issuerNotAfter.getTime() / 1000));
  }
}
