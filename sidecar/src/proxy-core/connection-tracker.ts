import type { Socket } from 'node:net';
import type { ConnectionLabels, ProxyMetrics } from '../telemetry/proxy-metrics.js';
import { abort } from './socket-relay.js';
import type { SocketRelay } from './socket-relay.js';

/** One accepted connection, from accept to close, whatever became of it. */
export class ProxyConnection {
  /** Set once the connection is forwarded: its metric labels (peer identity, tls). */
  labels: ConnectionLabels | undefined;
  relay: SocketRelay | undefined;
  readonly sockets: Socket[];
  /** performance.now() at accept: the start of the connection's duration. */
  readonly acceptedAt = performance.now();
  #reportedSent = 0;
  #reportedReceived = 0;

  constructor(accepted: Socket) {
    this.sockets = [accepted];
  }

  /** Reports the bytes relayed since the last report; `sent` is local → peer. */
  flushBytes(metrics: ProxyMetrics): void {
    const relay = this.relay;
    const labels = this.labels;
    if (relay === undefined || labels === undefined) return;
    const sent = relay.localToPeer - this.#reportedSent;
    const received = relay.peerToLocal - this.#reportedReceived;
    if (sent === 0 && received === 0) return;
    this.#reportedSent = relay.localToPeer;
    this.#reportedReceived = relay.peerToLocal;
    metrics.addBytes(labels, sent, received);
  }

  /** Seconds since accept. */
  age(): number {
    return (performance.now() - this.acceptedAt) / 1000;
  }

  abort(): void {
    if (this.relay !== undefined) this.relay.destroy();
    for (const socket of this.sockets) abort(socket);
  }
}

/**
 * The open connections of one listener: byte counters reported in batches (every
 * `flushIntervalMs` and at close, never per chunk) and the drain at shutdown.
 */
export class ConnectionTracker {
  readonly #open = new Set<ProxyConnection>();
  readonly #metrics: ProxyMetrics;
  readonly #flushTimer: NodeJS.Timeout;
  #idleWaiters: (() => void)[] = [];

  constructor(metrics: ProxyMetrics, flushIntervalMs = 10_000) {
    this.#metrics = metrics;
    this.#flushTimer = setInterval(() => this.flush(), flushIntervalMs);
    this.#flushTimer.unref();
  }

  get size(): number {
    return this.#open.size;
  }

  add(accepted: Socket): ProxyConnection {
    const connection = new ProxyConnection(accepted);
    this.#open.add(connection);
    return connection;
  }

  /** Call once per connection, when every socket of it has closed. */
  remove(connection: ProxyConnection): void {
    if (!this.#open.delete(connection)) return;
    connection.flushBytes(this.#metrics);
    if (this.#open.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  flush(): void {
    for (const connection of this.#open) connection.flushBytes(this.#metrics);
  }

  /** Resolves when every connection closed by itself, or aborts the rest after `graceMs`. */
  async drain(graceMs: number): Promise<void> {
    if (this.#open.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve);
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
      for (const connection of [...this.#open]) connection.abort();
    }
    clearInterval(this.#flushTimer);
  }
}
