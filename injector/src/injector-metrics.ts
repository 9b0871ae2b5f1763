import type { Counter, Histogram, Meter } from '@opentelemetry/api';
import type { AdmissionResult } from './admission-review.js';

/** The injector's instruments; `result` is one of four values, nothing per pod or namespace. */
export class InjectorMetrics {
  readonly admissions: Counter;
  readonly duration: Histogram;
  #certificateNotAfter: Date | undefined;

  constructor(meter: Meter) {
    this.admissions = meter.createCounter('reseal_injector_admissions_total', { description: 'Admission requests answered, by result (injected, skipped, denied, error)' });
    this.duration = meter.createHistogram('reseal_injector_admission_duration_seconds', {
      description: 'Time from receiving an admission request to sending the answer',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] },
    });
    meter
      .createObservableGauge('reseal_injector_serving_certificate_expiry_timestamp_seconds', { description: 'NotAfter of the webhook serving certificate in use', unit: 's' })
      .addCallback((result) => {
        if (this.#certificateNotAfter) result.observe(this.#certificateNotAfter.getTime() / 1000);
      });
  }

  record(result: AdmissionResult, seconds: number): void {
    this.admissions.add(1, { result });
    this.duration.record(seconds, { result });
  }

  servingCertificate(notAfter: Date): void {
    this.#certificateNotAfter = notAfter;
  }
}
