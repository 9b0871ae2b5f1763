export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  multiplier?: number;
  /** For tests; returns a number in [0, 1). */
  random?: () => number;
}

/**
 * Exponential backoff with "equal jitter": each delay lies between half and all of the
 * exponential step, so a fleet of sidecars that lost the control plane together does not
 * come back together, yet no one retries much sooner than planned.
 */
export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly multiplier: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.maxMs = options.maxMs ?? 30_000;
    this.multiplier = options.multiplier ?? 2;
    this.random = options.random ?? Math.random;
  }

  next(): number {
    const step = Math.min(this.maxMs, this.initialMs * this.multiplier ** this.attempt);
    if (step < this.maxMs) this.attempt++;
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
