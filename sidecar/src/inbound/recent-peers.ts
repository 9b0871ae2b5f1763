import type { ProxyTls } from '../telemetry/proxy-metrics.js';

export interface InboundPeerRecord {
  /** The verified client SPIFFE ID; undefined for plaintext (PERMISSIVE) clients. */
  readonly clientIdentity: string | undefined;
  /** The app port the connection was for. */
  readonly port: number;
  readonly tls: ProxyTls;
  readonly remoteAddress: string;
  /** ISO 8601. */
  readonly at: string;
}

/**
 * The last accepted inbound connections, newest first: what the admin port's debug page
 * shows as "who talks to this workload". A fixed ring, so memory stays bounded.
 */
export class RecentPeers {
  readonly #ring: (InboundPeerRecord | undefined)[];
  #next = 0;

  constructor(capacity = 64) {
    this.#ring = new Array<InboundPeerRecord | undefined>(Math.max(1, capacity)).fill(undefined);
  }

  record(peer: InboundPeerRecord): void {
    this.#ring[this.#next] = peer;
    this.#next = (this.#next + 1) % this.#ring.length;
  }

  snapshot(): InboundPeerRecord[] {
    const out: InboundPeerRecord[] = [];
    for (let i = 1; i <= this.#ring.length; i++) {
      const entry = this.#ring[(this.#next - i + this.#ring.length) % this.#ring.length];
      if (entry !== undefined) out.push(entry);
    }
    return out;
  }
}
