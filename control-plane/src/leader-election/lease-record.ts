import type { V1LeaseSpec } from '@kubernetes/client-node';

/**
 * What a candidate may do with a Lease it has just read. Expiry is judged by the local
 * clock from the moment this candidate last saw the record change, never by comparing
 * the holder's renewTime with our clock: two nodes' clocks need not agree, but both
 * measure durations well enough (the approach of client-go's leaderelection).
 */
export type LeaseDecision =
  | { kind: 'renew' }
  | { kind: 'acquire'; previousHolder: string | undefined }
  | { kind: 'wait'; holder: string; expiresInMs: number };

export interface ObservedRecord {
  /** Changes whenever the holder writes: holder, renewTime and duration. */
  key: string;
  /** Local time (ms) at which `key` was first seen. */
  at: number;
}

export function recordKey(spec: V1LeaseSpec | undefined): string {
  return JSON.stringify([spec?.holderIdentity ?? '', microTimeText(spec?.renewTime), spec?.leaseDurationSeconds ?? 0]);
}

/** The record as this candidate knows it after reading `spec` at local time `now`. */
export function observe(previous: ObservedRecord | undefined, spec: V1LeaseSpec | undefined, now: number): ObservedRecord {
  const key = recordKey(spec);
  return previous?.key === key ? previous : { key, at: now };
}

export function decide(spec: V1LeaseSpec | undefined, observed: ObservedRecord, identity: string, now: number, defaultDurationSeconds: number): LeaseDecision {
  const holder = spec?.holderIdentity ?? '';
  if (holder === identity) return { kind: 'renew' };
  // An empty holder is a released lease: free at once, no need to wait out the duration.
  if (holder === '') return { kind: 'acquire', previousHolder: undefined };
  const durationMs = (spec?.leaseDurationSeconds ?? defaultDurationSeconds) * 1000;
  const expiresInMs = observed.at + durationMs - now;
  return expiresInMs > 0 ? { kind: 'wait', holder, expiresInMs } : { kind: 'acquire', previousHolder: holder };
}

/**
 * client-node types MicroTime fields as Date but hands them back as the API server's
 * string (its deserializer does not know the type); accept either.
 */
export function microTimeText(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'string' ? value : '';
}
