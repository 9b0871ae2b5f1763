import type { ServiceTarget } from '../mesh-view.js';

/**
 * Open connections per target (pod IP and port), counted from the moment a dial starts,
 * so a burst of new connections spreads before any of them completes its handshake.
 */
export class TargetLoad {
  readonly #open = new Map<string, number>();

  count(host: string, port: number): number {
    return this.#open.get(key(host, port)) ?? 0;
  }

  acquire(host: string, port: number): void {
    const k = key(host, port);
    this.#open.set(k, (this.#open.get(k) ?? 0) + 1);
  }

  release(host: string, port: number): void {
    const k = key(host, port);
    const n = (this.#open.get(k) ?? 0) - 1;
    if (n > 0) this.#open.set(k, n);
    else this.#open.delete(k);
  }
}

function key(host: string, port: number): string {
  return `${host}|${port}`;
}

/**
 * Power of two choices: two distinct ready targets drawn at random, the one with fewer open
 * connections wins (the first drawn on a tie). Near least-loaded balance without a global
 * scan and without herding every new connection onto the same idle target.
 */
export function pickTarget(
  targets: readonly ServiceTarget[],
  load: TargetLoad,
  random: () => number = Math.random,
): ServiceTarget | undefined {
  let ready = 0;
  for (const target of targets) if (target.ready) ready++;
  if (ready === 0) return undefined;
  const firstIndex = Math.min(Math.floor(random() * ready), ready - 1);
  const first = nthReady(targets, firstIndex);
  if (ready === 1) return first;
  // Draw the second from the remaining ready - 1 targets so the two are distinct.
  let secondIndex = Math.min(Math.floor(random() * (ready - 1)), ready - 2);
  if (secondIndex >= firstIndex) secondIndex++;
  const other = nthReady(targets, secondIndex);
  return load.count(other.ip, other.port) < load.count(first.ip, first.port) ? other : first;
}

function nthReady(targets: readonly ServiceTarget[], n: number): ServiceTarget {
  let seen = 0;
  for (const target of targets) {
    if (!target.ready) continue;
    if (seen === n) return target;
    seen++;
  }
  throw new RangeError(`no ready target #${n}`);
}
