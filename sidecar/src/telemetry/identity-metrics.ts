import type { BatchObservableCallback, Meter } from '@opentelemetry/api';
import type { IdentityStatus } from '../identity/workload-identity.js';

export const IDENTITY_METRIC_NAMES = {
  expiry: 'reseal_identity_certificate_expiry_timestamp_seconds',
  renewals: 'reseal_identity_renewals_total',
  sinceLastRenewal: 'reseal_identity_seconds_since_last_renewal',
  consecutiveFailures: 'reseal_identity_consecutive_renewal_failures',
  trustBundleRoots: 'reseal_identity_trust_bundle_roots',
} as const;

/**
 * The identity's health as metrics, read from its status at each scrape: an alert on
 * "expiry − time() < 10m" or on consecutive failures then needs no event plumbing, and the
 * values cannot drift from what /ready and /debug/identity report. Returns an unregister function.
 */
export function registerIdentityMetrics(meter: Meter, source: { status(): IdentityStatus }, now: () => number = Date.now): () => void {
  const expiry = meter.createObservableGauge(IDENTITY_METRIC_NAMES.expiry, {
    description: 'NotAfter of the workload certificate currently served, in Unix seconds',
    unit: 's',
  });
  const renewals = meter.createObservableCounter(IDENTITY_METRIC_NAMES.renewals, {
    description: 'Certificate issuance attempts (first issuance included) by result',
  });
  const sinceLastRenewal = meter.createObservableGauge(IDENTITY_METRIC_NAMES.sinceLastRenewal, {
    description: 'Seconds since the workload certificate was last issued',
    unit: 's',
  });
  const consecutiveFailures = meter.createObservableGauge(IDENTITY_METRIC_NAMES.consecutiveFailures, {
    description: 'Issuance attempts that failed in a row since the last success',
  });
  const trustBundleRoots = meter.createObservableGauge(IDENTITY_METRIC_NAMES.trustBundleRoots, {
    description: 'Roots in the trust bundle in use (more than one during a root rotation)',
  });
  const observables = [expiry, renewals, sinceLastRenewal, consecutiveFailures, trustBundleRoots];
  const callback: BatchObservableCallback = (result) => {
    const status = source.status();
    // Before the first certificate there is no expiry to report; an absent series is more
    // honest than a zero that alerts would read as "expired in 1970".
    if (status.notAfter) result.observe(expiry, status.notAfter.getTime() / 1000);
    if (status.lastRenewal) result.observe(sinceLastRenewal, Math.max(0, (now() - status.lastRenewal.getTime()) / 1000));
    result.observe(renewals, status.renewals.success, { result: 'success' });
    result.observe(renewals, status.renewals.failure, { result: 'failure' });
    result.observe(consecutiveFailures, status.consecutiveFailures);
    result.observe(trustBundleRoots, status.trustBundleRoots);
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
