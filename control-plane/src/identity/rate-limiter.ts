/**
 * A token bucket per key (a SPIFFE ID). Every pod of a ServiceAccount shares its identity,
 * so the burst must cover a rollout of the whole Deployment renewing at once.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedMs: number }>();

  constructor(
    private readonly burst: number,
    private readonly refillPerSecond: number,
    private readonly maxKeys = 100_000,
  ) {
    if (!(burst >= 1) || !(refillPerSecond > 0)) throw new RangeError('rate limit needs burst >= 1 and refill > 0');
  }

  tryTake(key: string, nowMs = Date.now()): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.evictFull(nowMs);
      bucket = { tokens: this.burst, updatedMs: nowMs };
      this.buckets.set(key, bucket);
    }
    const elapsed = Math.max(0, nowMs - bucket.updatedMs) / 1000;
    bucket.tokens = Math.min(this.burst, bucket.tokens + elapsed * this.refillPerSecond);
    bucket.updatedMs = nowMs;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Drops buckets that have refilled; they carry no state worth keeping. */
  private evictFull(nowMs: number): void {
    for (const [key, bucket] of this.buckets) {
      const tokens = bucket.tokens + (Math.max(0, nowMs - bucket.updatedMs) / 1000) * this.refillPerSecond;
      if (tokens >= this.burst) this.buckets.delete(key);
    }
    if (this.buckets.size >= this.maxKeys) this.buckets.clear();
  }
}
