// The renewal and retry schedule as pure arithmetic: half-life with jitter, and capped
// exponential backoff.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_BACKOFF_POLICY, nextRenewalDelay, retryDelay } from '../src/identity/renewal-schedule.js';

const MINUTE = 60_000;

test('renewal at half of the lifetime, spread by ±10 % of it', () => {
  const notBefore = 0;
  const notAfter = 60 * MINUTE;
  assert.equal(nextRenewalDelay(notBefore, notAfter, 0, () => 0.5), 30 * MINUTE);
  assert.equal(nextRenewalDelay(notBefore, notAfter, 0, () => 0), 24 * MINUTE);
  assert.equal(nextRenewalDelay(notBefore, notAfter, 0, () => 0.999999), Math.round(0.5999998 * 60 * MINUTE));
  for (let i = 0; i < 1000; i++) {
    const delay = nextRenewalDelay(notBefore, notAfter, 0, Math.random);
    assert.ok(delay >= 24 * MINUTE && delay <= 36 * MINUTE, `${delay} within 40–60 % of the lifetime`);
  }
});

test('the back-dated part of the validity does not count: a 60 s certificate back-dated 60 s renews after about 30 s, not at once', () => {
  const now = 1_000_000;
  const notBefore = now - 60_000;
  const notAfter = now + 60_000;
  assert.equal(nextRenewalDelay(notBefore, notAfter, now, () => 0.5), 30_000);
  assert.equal(nextRenewalDelay(notBefore, notAfter, now, () => 0), 24_000);
});

test('a certificate already past its renewal time, expired or empty renews at once', () => {
  // Computed late (say the process was suspended): the remaining lifetime counts from now.
  assert.equal(nextRenewalDelay(0, 1000, 900, () => 0.5), 50);
  assert.equal(nextRenewalDelay(0, 1000, 2000, () => 0.5), 0);
  assert.equal(nextRenewalDelay(1000, 1000, 0, () => 0.5), 0);
  assert.equal(nextRenewalDelay(1000, 500, 0, () => 0.5), 0);
});

test('another fraction and jitter (for fast rotation in end-to-end tests)', () => {
  assert.equal(nextRenewalDelay(0, 100_000, 0, () => 0.5, { fraction: 0.05, jitter: 0 }), 5000);
  // Never before now, never after expiry, whatever the policy.
  assert.equal(nextRenewalDelay(0, 100_000, 0, () => 0, { fraction: 0.05, jitter: 0.5 }), 0);
  assert.equal(nextRenewalDelay(0, 100_000, 0, () => 1, { fraction: 0.9, jitter: 0.5 }), 100_000);
});

test('retry backoff: 1 s doubling to a 30 s cap, jittered downwards only', () => {
  const noJitter = () => 0;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 50].map((n) => retryDelay(n, noJitter)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  for (let n = 1; n < 12; n++) {
    for (let i = 0; i < 100; i++) {
      const ceiling = Math.min(30_000, 1000 * 2 ** (n - 1));
      const delay = retryDelay(n, Math.random);
      assert.ok(delay <= ceiling && delay >= ceiling * (1 - DEFAULT_BACKOFF_POLICY.jitter), `attempt ${n}: ${delay}`);
    }
  }
  assert.equal(retryDelay(0, noJitter), 1000);
  assert.equal(retryDelay(3, () => 1, { initialMs: 100, maxMs: 1000, jitter: 0.5 }), 200);
});
