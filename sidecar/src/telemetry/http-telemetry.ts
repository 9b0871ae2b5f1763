// HTTP awareness for the data path: which connections to observe (all but the opaque
// ports), and what an observed exchange becomes: a duration in the OpenTelemetry HTTP
// semantic-convention histograms and, when a tracer is configured, one span per request
// per hop that continues the caller's W3C trace.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import type { Http1Head } from '../http-observe/http1-parser.js';
import { HttpObserver } from '../http-observe/http-observer.js';
import type { HttpExchange, HttpExchangeRecorder } from '../http-observe/http-observer.js';
import { PARENT_ID_OFFSET, TRACEPARENT_LENGTH, parseTraceParent } from '../http-observe/traceparent.js';
import { DurationHistograms } from './duration-histograms.js';
import type { DurationHistogram, DurationSeries } from './duration-histograms.js';
import type { ConnectionLabels, ProxyMetrics } from './proxy-metrics.js';

/** Instrument names of the OpenTelemetry HTTP semantic conventions (Prometheus: dots become underscores). */
export const HTTP_METRIC_NAMES = Object.freeze({
  serverDuration: 'http.server.request.duration',
  clientDuration: 'http.client.request.duration',
});

/**
 * Server-speaks-first and binary protocols whose ports skip detection (Linkerd's default
 * opaque ports: SMTP, MySQL, PostgreSQL, Redis, Cassandra, MongoDB, memcached, Zookeeper…).
 */
export const DEFAULT_OPAQUE_PORTS: readonly number[] = Object.freeze([25, 587, 3306, 4444, 5432, 6379, 9300, 9042, 11211, 27017, 2181]);

/** The methods semantic conventions know; anything else is reported as `_OTHER`. */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY']);

// The semantic conventions' advice, with the sub-5 ms buckets a mesh hop needs in front.
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

export interface HttpTelemetryOptions {
  /** Ports (inbound: the app port; outbound: the destination port) never observed. Default DEFAULT_OPAQUE_PORTS. */
  readonly opaquePorts?: Iterable<number>;
  /** Spans per request per hop; undefined: no tracing at all. */
  readonly tracer?: Tracer | undefined;
  /** Rewrite the traceparent parent-id in place so the next hop's span is a child of ours. Default true. */
  readonly propagate?: boolean;
}

/** What a connection's observer needs to know about it. */
export interface ObservedConnection {
  readonly labels: ConnectionLabels;
  /** Inbound: the app port; outbound: the destination port. */
  readonly port: number;
  /** The far end's address (inbound: the client; outbound: the server). */
  readonly peerAddress: string;
}

/**
 * The HTTP duration histograms of one proxy. Pass it to createTelemetry as a metric producer
 * (so /metrics and OTLP carry it) and to HttpTelemetry, which records into it.
 */
export class HttpDurationHistograms extends DurationHistograms {
  readonly server: DurationHistogram;
  readonly client: DurationHistogram;

  constructor() {
    super('reseal-proxy');
    this.server = this.define(
      HTTP_METRIC_NAMES.serverDuration,
      'Duration of HTTP requests the sidecar delivered to its app (inbound), from request head to the end of the response',
      DURATION_BUCKETS,
    );
    this.client = this.define(
      HTTP_METRIC_NAMES.clientDuration,
      'Duration of HTTP requests the app sent through its sidecar (outbound), from request head to the end of the response',
      DURATION_BUCKETS,
    );
  }
}

export class HttpTelemetry {
  readonly #metrics: ProxyMetrics;
  readonly #server: DurationHistogram;
  readonly #client: DurationHistogram;
  readonly #opaquePorts: ReadonlySet<number>;
  readonly #tracer: Tracer | undefined;
  readonly #propagate: boolean;
  readonly #attributes = new WeakMap<ConnectionLabels, Map<string, Attributes>>();

  constructor(histograms: HttpDurationHistograms, metrics: ProxyMetrics, options: HttpTelemetryOptions = {}) {
    this.#metrics = metrics;
    this.#opaquePorts = new Set(options.opaquePorts ?? DEFAULT_OPAQUE_PORTS);
    this.#tracer = options.tracer;
    this.#propagate = options.propagate ?? true;
    this.#server = histograms.server;
    this.#client = histograms.client;
  }

  /** An observer for a connection about to be relayed; undefined on an opaque port. */
  observe(connection: ObservedConnection): HttpObserver | undefined {
    const { direction } = connection.labels;
    if (this.#opaquePorts.has(connection.port)) {
      this.#metrics.protocolDetected(direction, 'opaque_port');
      return undefined;
    }
    return new HttpObserver(this.#recorder(connection), direction === 'outbound');
  }

  #recorder(connection: ObservedConnection): HttpExchangeRecorder {
    const { labels } = connection;
    const histogram = labels.direction === 'inbound' ? this.#server : this.#client;
    const tracer = this.#tracer;
    // The exchanges of one connection mostly look alike: remember the last attribute set.
    let lastMethod = '';
    let lastStatus = -1;
    let lastError: string | undefined;
    let lastSeries: DurationSeries | undefined;
    return {
      detected: (protocol) => this.#metrics.protocolDetected(labels.direction, protocol),
      requestStarted: (head, chunk) => (tracer === undefined ? undefined : this.#startSpan(tracer, connection, head, chunk)),
      requestFinished: (exchange, seconds, error) => {
        if (exchange.method !== lastMethod || exchange.status !== lastStatus || error !== lastError || lastSeries === undefined) {
          const method = KNOWN_METHODS.has(exchange.method) ? exchange.method : '_OTHER';
          lastSeries = histogram.series(this.#attributesFor(labels, method, exchange.status, error));
          lastMethod = exchange.method;
          lastStatus = exchange.status;
          lastError = error;
        }
        lastSeries.record(seconds);
        const span = exchange.context as Span | undefined;
        if (span !== undefined) endSpan(span, labels.direction, exchange, error);
      },
    };
  }

  #attributesFor(labels: ConnectionLabels, method: string, status: number, error: string | undefined): Attributes {
    let byKey = this.#attributes.get(labels);
    if (byKey === undefined) {
      byKey = new Map();
      this.#attributes.set(labels, byKey);
    }
    const key = `${method}|${status}|${error ?? ''}`;
    let attributes = byKey.get(key);
    if (attributes === undefined) {
      const a: Attributes = { 'http.request.method': method, ...labels.attributes };
      if (status !== 0) a['http.response.status_code'] = status;
      if (error !== undefined) a['error.type'] = error;
      attributes = Object.freeze(a);
      // Methods (11) × status codes (100..599) × two errors bound this per label set.
      byKey.set(key, attributes);
    }
    return attributes;
  }

  #startSpan(tracer: Tracer, connection: ObservedConnection, head: Http1Head, chunk: Buffer): Span {
    const { labels } = connection;
    const parent = head.traceparent === undefined ? undefined : parseTraceParent(head.traceparent);
    const context =
      parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.parentId, traceFlags: parent.flags, isRemote: true });
    const method = KNOWN_METHODS.has(head.method) ? head.method : '_OTHER';
    const span = tracer.startSpan(
      method === '_OTHER' ? 'HTTP' : method,
      {
        kind: labels.direction === 'inbound' ? SpanKind.SERVER : SpanKind.CLIENT,
        attributes: {
          'http.request.method': method,
          ...(method === '_OTHER' ? { 'http.request.method_original': head.method } : {}),
          'network.peer.address': connection.peerAddress,
          'server.port': connection.port,
          'reseal.direction': labels.direction,
          'reseal.peer_identity': labels.peerIdentity,
          'reseal.local_identity': labels.localIdentity,
          'reseal.tls': labels.tls,
          'reseal.destination_workload': labels.destinationWorkload,
          'reseal.destination_namespace': labels.destinationNamespace,
        },
      },
      context,
    );
    // Same-length rewrite of the parent-id: the next hop (the peer's sidecar, or the app
    // behind this one) continues from our span. Only a well-formed version-00 value whose
    // bytes are all in this chunk is touched; anything else is forwarded as it came.
    const offset = head.traceparentOffset;
    if (this.#propagate && parent !== undefined && offset >= 0 && head.traceparent!.length === TRACEPARENT_LENGTH && head.traceparent!.startsWith('00-')) {
      chunk.write(span.spanContext().spanId, offset + PARENT_ID_OFFSET, 16, 'latin1');
    }
    return span;
  }
}

function endSpan(span: Span, direction: 'inbound' | 'outbound', exchange: HttpExchange, error: string | undefined): void {
  if (exchange.status !== 0) span.setAttribute('http.response.status_code', exchange.status);
  // Semantic conventions: 5xx is an error on the server side, 4xx too on the client side.
  const failedStatus = exchange.status >= 500 || (direction === 'outbound' && exchange.status >= 400);
  if (error !== undefined || failedStatus) {
    span.setAttribute('error.type', error ?? String(exchange.status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}
