// The data path's instruments. Everything here is called per connection or per handshake,
// never per chunk: bytes are added when a connection closes and, for long-lived ones, in
// periodic batches (proxy-core/connection-tracker.ts). Attribute objects are built once per
// label combination and cached, so recording allocates nothing.

import type { Attributes, Counter, Histogram, Meter, UpDownCounter } from '@opentelemetry/api';
import type { ConnectionFailureReason, HandshakeFailureReason, PolicyDenialReason } from '../proxy-core/failure-reason.js';
import { BoundedValues } from './bounded-values.js';

export type ProxyDirection = 'inbound' | 'outbound';
export type ProxyTls = 'mtls' | 'plaintext';
/** What a connection's first bytes showed (see http-observe/protocol-detect.ts). */
export type DetectedProtocol = 'http1' | 'h2' | 'opaque' | 'opaque_port';

/** Metric names as the instruments are created; Prometheus adds `_total` to counters. */
export const PROXY_METRIC_NAMES = Object.freeze({
  connectionsOpened: 'reseal_proxy_connections_opened',
  connectionsClosed: 'reseal_proxy_connections_closed',
  connectionsOpen: 'reseal_proxy_connections_open',
  connectionDuration: 'reseal_proxy_connection_duration_seconds',
  sentBytes: 'reseal_proxy_sent_bytes',
  receivedBytes: 'reseal_proxy_received_bytes',
  handshakeDuration: 'reseal_proxy_tls_handshake_duration_seconds',
  handshakeFailures: 'reseal_proxy_tls_handshake_failures',
  policyDenials: 'reseal_proxy_policy_denials',
  connectionFailures: 'reseal_proxy_connection_failures',
  protocolDetections: 'reseal_proxy_protocol_detections',
});

/** The peer label when the peer has no verified identity (plaintext, or before the handshake). */
export const UNKNOWN_PEER = 'unknown';
/** The peer label once `maxPeerIdentities` distinct identities have been seen. */
export const OTHER_PEER = 'other';

/** The workload a connection goes to, as discovery names it. */
export interface Destination {
  readonly workload: string;
  readonly namespace: string;
}

/** An interned label set for one connection: pass it back to the recording methods. */
export interface ConnectionLabels {
  readonly direction: ProxyDirection;
  readonly peerIdentity: string;
  readonly tls: ProxyTls;
  readonly localIdentity: string;
  /** Outbound: the destination pod's workload; inbound: this pod's. 'unknown' when not known. */
  readonly destinationWorkload: string;
  readonly destinationNamespace: string;
  /** @internal the cached attribute object */
  readonly attributes: Attributes;
}

/**
 * Who and what a connection that failed or was refused was for, as far as the proxy knew
 * when it gave up: the failure counters carry the same destination and peer labels as the
 * connection metrics, so a failure spike can be traced to a destination. A plain object
 * built on the failure path only (failures are rare); the attribute objects behind it are
 * interned like ConnectionLabels.
 */
export interface FailureLabels {
  readonly direction: ProxyDirection;
  /**
   * Outbound: the SPIFFE ID the destination was expected to prove (the identity a successful
   * connection would have been labelled with). Inbound: the client's verified SPIFFE ID, so
   * only once its certificate has been verified (a denied client, an unreachable app).
   * Absent or empty: 'unknown'.
   */
  readonly peerIdentity?: string | undefined;
  /** As for connectionLabels: absent means this pod's workload inbound, unknown outbound. */
  readonly destination?: Destination | undefined;
}

export interface ProxyMetrics {
  /** This workload's SPIFFE ID, the `local_identity` label of every connection series. */
  readonly localIdentity: string;
  /**
   * The labels of one connection. `destination` defaults to the local workload for inbound
   * (the `localWorkload` option) and to unknown for outbound.
   */
  connectionLabels(direction: ProxyDirection, peerIdentity: string, tls: ProxyTls, destination?: Destination): ConnectionLabels;
  connectionOpened(labels: ConnectionLabels): void;
  /** `seconds`: from accept to the close of the last socket. */
  connectionClosed(labels: ConnectionLabels, seconds: number): void;
  /** Payload bytes since the last call: `sent` toward the peer, `received` from it. */
  addBytes(labels: ConnectionLabels, sent: number, received: number): void;
  handshakeCompleted(direction: ProxyDirection, seconds: number): void;
  handshakeFailed(failure: FailureLabels, reason: HandshakeFailureReason): void;
  policyDenied(failure: FailureLabels, reason: PolicyDenialReason): void;
  connectionFailed(failure: FailureLabels, reason: ConnectionFailureReason): void;
  protocolDetected(direction: ProxyDirection, protocol: DetectedProtocol): void;
}

export interface ProxyMetricsOptions {
  /** Distinct peer identities kept as label values; later ones are reported as "other". Default 256. */
  readonly maxPeerIdentities?: number;
  /** Distinct destination workloads kept as label values; later ones are "other". Default 256. */
  readonly maxDestinations?: number;
  /** This workload's SPIFFE ID. Default 'unknown'. */
  readonly localIdentity?: string;
  /** This pod's workload (the destination of inbound connections), asked per new label set. */
  readonly localWorkload?: () => Destination | undefined;
}

// Handshakes on a pod network take about a millisecond; the tail is what matters.
const HANDSHAKE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Connections live from a millisecond (one request, no keep-alive) to hours (pooled, streams).
const CONNECTION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 14_400];

const UNKNOWN_DESTINATION: Destination = Object.freeze({ workload: UNKNOWN_PEER, namespace: UNKNOWN_PEER });

export function createProxyMetrics(meter: Meter, options: ProxyMetricsOptions = {}): ProxyMetrics {
  const peers = new BoundedValues(options.maxPeerIdentities ?? 256, OTHER_PEER);
  const destinations = new BoundedValues(options.maxDestinations ?? 256, OTHER_PEER);
  const localIdentity = options.localIdentity || UNKNOWN_PEER;
  const opened: Counter = meter.createCounter(PROXY_METRIC_NAMES.connectionsOpened, {
    description: 'Proxied TCP connections accepted and forwarded',
  });
  const closed: Counter = meter.createCounter(PROXY_METRIC_NAMES.connectionsClosed, {
    description: 'Proxied TCP connections closed',
  });
  const open: UpDownCounter = meter.createUpDownCounter(PROXY_METRIC_NAMES.connectionsOpen, {
    description: 'Proxied TCP connections open now',
  });
  const duration: Histogram = meter.createHistogram(PROXY_METRIC_NAMES.connectionDuration, {
    description: 'Proxied TCP connection lifetime, from accept to close',
    unit: 's',
    advice: { explicitBucketBoundaries: CONNECTION_BUCKETS },
  });
  const sent: Counter = meter.createCounter(PROXY_METRIC_NAMES.sentBytes, {
    description: 'Payload bytes sent toward the peer (outbound: to the server; inbound: to the client)',
    unit: 'By',
  });
  const received: Counter = meter.createCounter(PROXY_METRIC_NAMES.receivedBytes, {
    description: 'Payload bytes received from the peer',
    unit: 'By',
  });
  const handshakeDuration: Histogram = meter.createHistogram(PROXY_METRIC_NAMES.handshakeDuration, {
    description: 'Mutual TLS handshake duration, TCP connect excluded',
    unit: 's',
    advice: { explicitBucketBoundaries: HANDSHAKE_BUCKETS },
  });
  const handshakeFailures: Counter = meter.createCounter(PROXY_METRIC_NAMES.handshakeFailures, {
    description: 'Mutual TLS handshakes that failed, by reason and destination',
  });
  const policyDenials: Counter = meter.createCounter(PROXY_METRIC_NAMES.policyDenials, {
    description: 'Connections refused by policy (client identity not allowed, plaintext in STRICT, unmeshed refused)',
  });
  const connectionFailures: Counter = meter.createCounter(PROXY_METRIC_NAMES.connectionFailures, {
    description: 'Connections that could not be forwarded, by reason and destination',
  });
  const protocolDetections: Counter = meter.createCounter(PROXY_METRIC_NAMES.protocolDetections, {
    description: 'Forwarded connections by the protocol their first bytes showed (http1, h2, opaque, opaque_port: detection skipped)',
  });

  const labelCache = new Map<string, ConnectionLabels>();
  const failureCache = new Map<string, Attributes>();
  const protocolCache = new Map<string, Attributes>();

  const directionOnly: Record<ProxyDirection, Attributes> = {
    inbound: Object.freeze({ direction: 'inbound', local_identity: localIdentity }),
    outbound: Object.freeze({ direction: 'outbound', local_identity: localIdentity }),
  };

  const boundedDestination = (destination: Destination | undefined): Destination => {
    if (destination === undefined || (destination.workload === '' && destination.namespace === '')) return UNKNOWN_DESTINATION;
    const namespace = destination.namespace || UNKNOWN_PEER;
    const workload = destination.workload || UNKNOWN_PEER;
    // One cap over the pair: a workload name means nothing without its namespace.
    if (destinations.admit(`${namespace}/${workload}`) === OTHER_PEER) return { workload: OTHER_PEER, namespace: OTHER_PEER };
    return { workload, namespace };
  };

  const peerLabel = (peerIdentity: string | undefined): string => (peerIdentity === undefined || peerIdentity === '' ? UNKNOWN_PEER : peers.admit(peerIdentity));
  // Outbound: what discovery said (or unknown); inbound: this pod's workload unless given.
  const rawDestination = (direction: ProxyDirection, destination: Destination | undefined): Destination | undefined =>
    destination ?? (direction === 'inbound' ? options.localWorkload?.() : undefined);

  // The failure counters' attributes: the connection labels' peer and destination (the same
  // caps, so a destination keeps one name across success and failure series) plus the reason.
  const failureAttributes = (failure: FailureLabels, reason: string): Attributes => {
    const { direction } = failure;
    const peer = peerLabel(failure.peerIdentity);
    const raw = rawDestination(direction, failure.destination);
    const key = `${direction}|${reason}|${peer}|${raw?.namespace ?? ''}|${raw?.workload ?? ''}`;
    let attributes = failureCache.get(key);
    if (attributes === undefined) {
      const dst = boundedDestination(raw);
      attributes = Object.freeze({
        direction,
        reason,
        peer_identity: peer,
        local_identity: localIdentity,
        destination_workload: dst.workload,
        destination_namespace: dst.namespace,
      });
      // Bounded by the caps and the reasons, but 'other' maps many raw keys to one set: cap the cache too.
      if (failureCache.size < 4096) failureCache.set(key, attributes);
    }
    return attributes;
  };

  return {
    localIdentity,
    connectionLabels(direction, peerIdentity, tls, destination) {
      const peer = peerLabel(peerIdentity);
      const raw = rawDestination(direction, destination);
      const key = `${direction}|${tls}|${peer}|${raw?.namespace ?? ''}|${raw?.workload ?? ''}`;
      let labels = labelCache.get(key);
      if (labels === undefined) {
        const dst = boundedDestination(raw);
        labels = Object.freeze({
          direction,
          peerIdentity: peer,
          tls,
          localIdentity,
          destinationWorkload: dst.workload,
          destinationNamespace: dst.namespace,
          attributes: Object.freeze({
            direction,
            peer_identity: peer,
            tls,
            local_identity: localIdentity,
            destination_workload: dst.workload,
            destination_namespace: dst.namespace,
          }),
        });
        // The key space is bounded by the caps above (an 'other' destination maps many raw keys to one label set, so cap the cache too).
        if (labelCache.size < 4096) labelCache.set(key, labels);
      }
      return labels;
    },
    connectionOpened(labels) {
      opened.add(1, labels.attributes);
      open.add(1, labels.attributes);
    },
    connectionClosed(labels, seconds) {
      closed.add(1, labels.attributes);
      open.add(-1, labels.attributes);
      duration.record(seconds, labels.attributes);
    },
    addBytes(labels, sentBytes, receivedBytes) {
      if (sentBytes > 0) sent.add(sentBytes, labels.attributes);
      if (receivedBytes > 0) received.add(receivedBytes, labels.attributes);
    },
    handshakeCompleted(direction, seconds) {
      handshakeDuration.record(seconds, directionOnly[direction]);
    },
    handshakeFailed(failure, reason) {
      handshakeFailures.add(1, failureAttributes(failure, reason));
    },
    policyDenied(failure, reason) {
      policyDenials.add(1, failureAttributes(failure, reason));
    },
    connectionFailed(failure, reason) {
      connectionFailures.add(1, failureAttributes(failure, reason));
    },
    protocolDetected(direction, protocol) {
      const key = `${direction}|${protocol}`;
      let attributes = protocolCache.get(key);
      if (attributes === undefined) {
        attributes = Object.freeze({ direction, protocol, local_identity: localIdentity });
        protocolCache.set(key, attributes);
      }
      protocolDetections.add(1, attributes);
    },
  };
}
