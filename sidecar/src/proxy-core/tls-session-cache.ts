import type { TlsMaterial } from '../identity/tls-identity.js';

interface Entry {
  readonly session: Buffer;
  readonly material: TlsMaterial;
  readonly expiresAt: number;
}

/**
 * Client-side TLS 1.3 sessions for resumption, one per destination and expected server
 * identity. A session is only offered with the very TlsMaterial it was made with: after a
 * rotation or a trust-bundle change the next connection does a full handshake, so the
 * server chain is verified again against the current bundle (a resumed session skips
 * that). Entries also expire with the server's ticket lifetime or the server
 * certificate's NotAfter, whichever comes first. Bounded, least recently stored out first.
 */
export class TlsSessionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(options: { maxEntries?: number; maxAgeMs?: number; now?: () => number } = {}) {
    this.#maxEntries = options.maxEntries ?? 1024;
    this.#maxAgeMs = options.maxAgeMs ?? 300_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, material: TlsMaterial): Buffer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.material !== material || entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.session;
  }

  /** `peerNotAfter`: the server certificate's expiry (ms since the epoch). */
  set(key: string, material: TlsMaterial, session: Buffer, peerNotAfter: number): void {
    const expiresAt = Math.min(this.#now() + this.#maxAgeMs, peerNotAfter, material.notAfter.getTime());
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { session, material, expiresAt });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
