// Watches one relayed connection for HTTP: the first bytes the client sends decide whether
// it is HTTP/1.x (observed: each exchange timed and reported), HTTP/2 (counted, not parsed)
// or anything else (opaque: the relay goes back to its untapped fast path). Detection is
// passive, the relay never holds a byte for it: if the server speaks first (SMTP, MySQL…)
// the connection is opaque at once, and a client that has sent nothing yet costs nothing.

import type { RelayTap } from '../proxy-core/socket-relay.js';
import { Http1Parser } from './http1-parser.js';
import type { Http1Head, HeadVerdict } from './http1-parser.js';
import { MAX_DETECT_BYTES, detectProtocol } from './protocol-detect.js';

export type ObservedProtocol = 'detecting' | 'http1' | 'h2' | 'opaque';

/** One request seen on the wire, until its response is complete. */
export interface HttpExchange {
  /** The method token as sent. */
  readonly method: string;
  /** performance.now() when the request head was complete. */
  readonly startedAt: number;
  /** Set once the final response head is seen. */
  status: number;
  /** Whatever the recorder attached at start (a span). */
  readonly context: unknown;
}

/** Where the observer reports: metrics, spans. */
export interface HttpExchangeRecorder {
  /** The client's first bytes decided the protocol. */
  detected(protocol: 'http1' | 'h2' | 'opaque'): void;
  /**
   * A request head: returns what to keep with the exchange (a span). It may rewrite the
   * traceparent value in `chunk` in place at `head.traceparentOffset` (same length).
   */
  requestStarted(head: Http1Head, chunk: Buffer): unknown;
  /** The response completed (`error` undefined) or never will (`error` says why). */
  requestFinished(exchange: HttpExchange, seconds: number, error: string | undefined): void;
}

/** Pipelined requests awaiting responses beyond this are not followed. */
const MAX_PENDING = 64;

export class HttpObserver implements RelayTap {
  protocol: ObservedProtocol = 'detecting';
  /** Exchanges completed. */
  requests = 0;
  readonly #recorder: HttpExchangeRecorder;
  /** Outbound: the app (the relay's local end) is the client; inbound: the peer is. */
  readonly #clientIsLocal: boolean;
  #detectBuffer: Buffer | undefined;
  #requestParser: Http1Parser | undefined;
  #responseParser: Http1Parser | undefined;
  readonly #pending: HttpExchange[] = [];
  #interim = false;
  #closed = false;
  #stopped = false;

  constructor(recorder: HttpExchangeRecorder, clientIsLocal: boolean) {
    this.#recorder = recorder;
    this.#clientIsLocal = clientIsLocal;
  }

  fromLocal(chunk: Buffer): boolean {
    return this.#clientIsLocal ? this.#fromClient(chunk) : this.#fromServer(chunk);
  }

  fromPeer(chunk: Buffer): boolean {
    return this.#clientIsLocal ? this.#fromServer(chunk) : this.#fromClient(chunk);
  }

  /** The connection closed: a body running to close ends here, other open exchanges failed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.protocol !== 'http1') return;
    const now = performance.now();
    const untilClose = this.#responseParser?.untilClose === true;
    for (let i = 0; i < this.#pending.length; i++) {
      const exchange = this.#pending[i]!;
      const complete = i === 0 && untilClose;
      if (complete) this.requests++;
      this.#recorder.requestFinished(exchange, (now - exchange.startedAt) / 1000, complete ? undefined : 'connection_closed');
    }
    this.#pending.length = 0;
  }

  #fromClient(chunk: Buffer): boolean {
    if (this.protocol === 'http1') return this.#requestParser!.push(chunk) || this.#stop();
    if (this.protocol !== 'detecting') return false;
    let data = chunk;
    if (this.#detectBuffer !== undefined) data = Buffer.concat([this.#detectBuffer, chunk]);
    const protocol = detectProtocol(data);
    if (protocol === 'need_more') {
      // Only a few bytes (a request split after "GE"): keep a copy of them, and wait.
      this.#detectBuffer = Buffer.from(data.subarray(0, MAX_DETECT_BYTES));
      return true;
    }
    this.#detectBuffer = undefined;
    this.protocol = protocol;
    this.#recorder.detected(protocol);
    if (protocol !== 'http1') return false;
    this.#requestParser = new Http1Parser('request', {
      onHead: (head, headChunk) => this.#requestHead(head, headChunk),
      onMessageEnd: () => {},
    });
    this.#responseParser = new Http1Parser('response', {
      onHead: (head) => this.#responseHead(head),
      onMessageEnd: () => this.#responseEnd(),
    });
    // The bytes held back for detection were forwarded already: parse them with this chunk.
    return this.#requestParser.push(data === chunk ? chunk : Buffer.from(data)) || this.#stop();
  }

  #fromServer(chunk: Buffer): boolean {
    if (this.protocol === 'http1') return this.#responseParser!.push(chunk) || this.#stop();
    if (this.protocol === 'detecting') {
      // The server spoke first: not HTTP.
      this.protocol = 'opaque';
      this.#detectBuffer = undefined;
      this.#recorder.detected('opaque');
    }
    return false;
  }

  #requestHead(head: Http1Head, chunk: Buffer): HeadVerdict {
    if (this.#pending.length >= MAX_PENDING) {
      this.#stop();
      return 'stop';
    }
    const context = this.#recorder.requestStarted(head, chunk);
    this.#pending.push({ method: head.method, startedAt: performance.now(), status: 0, context });
    return 'default';
  }

  #responseHead(head: Http1Head): HeadVerdict {
    const exchange = this.#pending[0];
    if (exchange === undefined) {
      // A response nobody asked for: we lost track.
      this.#stop();
      return 'stop';
    }
    const status = head.status;
    if (status === 101 || (exchange.method === 'CONNECT' && status >= 200 && status < 300)) {
      // A tunnel from here on (WebSocket, CONNECT): record the exchange and stop looking.
      exchange.status = status;
      this.#finishFirst();
      this.#stop();
      return 'stop';
    }
    if (status < 200) {
      this.#interim = true; // 100 Continue, 103 Early Hints: the final response follows.
      return 'no_body';
    }
    exchange.status = status;
    if (exchange.method === 'HEAD' || status === 204 || status === 304) return 'no_body';
    return 'default';
  }

  #responseEnd(): void {
    if (this.#interim) {
      this.#interim = false;
      return;
    }
    this.#finishFirst();
  }

  #finishFirst(): void {
    const exchange = this.#pending.shift();
    if (exchange === undefined) return;
    this.requests++;
    this.#recorder.requestFinished(exchange, (performance.now() - exchange.startedAt) / 1000, undefined);
  }

  /** Confused or done: stop observing both directions (the relay carries on as opaque TCP). */
  #stop(): false {
    if (this.protocol === 'http1') {
      this.#requestParser!.stop();
      this.#responseParser!.stop();
      // What is still open will never be timed correctly: drop it rather than report garbage.
      this.#pending.length = 0;
    }
    this.protocol = this.protocol === 'detecting' ? 'opaque' : this.protocol;
    this.#stopped = true;
    return false;
  }

  /** True once observation ended (confusion, tunnel); the relay then runs untapped. */
  get stopped(): boolean {
    return this.#stopped;
  }
}
