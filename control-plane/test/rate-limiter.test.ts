import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from '../src/identity/rate-limiter.js';

test('a burst is allowed, then requests wait for the refill', () => {
  const limiter = new RateLimiter(3, 1);
  const t0 = 1_000_000;
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.tryTake('a', t0)), [true, true, true, false]);
  assert.equal(limiter.tryTake('b', t0), true, 'identities have separate buckets');
  assert.equal(limiter.tryTake('a', t0 + 500), false);
  assert.equal(limiter.tryTake('a', t0 + 1000), true);
});

test('the bucket map stays bounded', () => {
  const limiter = new RateLimiter(1, 1, 10);
  for (let i = 0; i < 1000; i++) limiter.tryTake(`id-${i}`, 0);
  // Only a full bucket would allow this again immediately; a bounded map forgot the old keys.
  assert.equal(limiter.tryTake('id-999', 0), false);
  assert.throws(() => new RateLimiter(0, 1), RangeError);
});
