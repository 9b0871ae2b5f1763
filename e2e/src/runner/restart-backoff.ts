// Crash-loop backoff: kubelet doubles from 10 s to 5 min; tests need restarts within seconds,
// so the runner uses the same doubling with a small start and cap.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 10_000 };

/** Delay before restart number `attempt` (0-based): initial, 2×, 4×, … capped at max. */
export function nextBackoffMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  return Math.min(options.initialMs * 2 ** Math.min(attempt, 30), options.maxMs);
}
