// When to renew and when to retry: pure arithmetic on times in milliseconds, so that the
// schedule can be tested without waiting for real certificates to age.

export interface RenewalPolicy {
  /** Share of the lifetime after which the certificate is renewed (0.5: at half-life). */
  readonly fraction: number;
  /** Spread around `fraction`, as a share of the lifetime (0.1: ±10 %), so that pods started together do not renew together. */
  readonly jitter: number;
}

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Each delay is drawn from [delay × (1 − jitter), delay], so a fleet that lost the control plane together does not come back in lockstep. */
  readonly jitter: number;
}

export const DEFAULT_RENEWAL_POLICY: RenewalPolicy = { fraction: 0.5, jitter: 0.1 };
export const DEFAULT_BACKOFF_POLICY: BackoffPolicy = { initialMs: 1000, maxMs: 30_000, jitter: 0.2 };

/**
 * Milliseconds from `now` until the certificate should be renewed; call it when the certificate
 * arrives. The lifetime is counted from the later of NotBefore and `now`: the CA back-dates
 * NotBefore for clock skew, and with a short TTL half of the nominal lifetime could already
 * have passed on arrival, which would renew in a loop.
 */
export function nextRenewalDelay(
  notBefore: number,
  notAfter: number,
  now: number,
  random: () => number,
  policy: RenewalPolicy = DEFAULT_RENEWAL_POLICY,
): number {
  const start = Math.min(Math.max(notBefore, now), notAfter);
  const lifetime = notAfter - start;
  if (!(lifetime > 0)) return 0;
  const share = clamp(policy.fraction + (random() * 2 - 1) * policy.jitter, 0, 1);
  return Math.max(0, Math.round(start + share * lifetime - now));
}

/** Delay before the next attempt after `consecutiveFailures` (≥ 1) failures in a row: exponential, capped, jittered. */
export function retryDelay(consecutiveFailures: number, random: () => number, policy: BackoffPolicy = DEFAULT_BACKOFF_POLICY): number {
  const exponent = Math.min(Math.max(consecutiveFailures - 1, 0), 30);
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
  return Math.max(1, Math.round(ceiling * (1 - clamp(policy.jitter, 0, 1) * random())));
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}
