// The data path's instruments. Everything here is called per connection or per handshake,
// never per chunk: bytes are added when a connection closes and, for long-lived ones, in
// periodic batches (proxy-core/connection-tracker.ts). Attribute objects are built once per
// label combination and cached, so recording allocates nothing.

import type { Attributes, Counter, Histogram, Meter, UpDownCounter } from '@opentelemetry/api';
import type { ConnectionFailureReason, HandshakeFailureReason, PolicyDenialReason } from '../proxy-core/failure-reason.js';

export type ProxyDirection = 'inbound' | 'outbound';
export type ProxyTls = 'mtls' | 'plaintext';

/** Metric names as the instruments are created; Prometheus adds `_total` to counters. */
export const PROXY_METRIC_NAMES = Object.freeze({
  connectionsOpened: 'reseal_proxy_connections_opened',
  connectionsClosed: 'reseal_proxy_connections_closed',
  connectionsOpen: 'reseal_proxy_connections_open',
  sentBytes: 'reseal_proxy_sent_bytes',
  receivedBytes: 'reseal_proxy_received_bytes',
  handshakeDuration: 'reseal_proxy_tls_handshake_duration_seconds',
  handshakeFailures: 'reseal_proxy_tls_handshake_failures',
  policyDenials: 'reseal_proxy_policy_denials',
  connectionFailures: 'reseal_proxy_connection_failures',
});

/** The peer label when the peer has no verified identity (plaintext, or before the handshake). */
export const UNKNOWN_PEER = 'unknown';
/** The peer label once `maxPeerIdentities` distinct identities have been seen. */
export const OTHER_PEER = 'other';

/** An interned label set for one connection: pass it back to the recording methods. */
export interface ConnectionLabels {
  readonly direction: ProxyDirection;
  readonly peerIdentity: string;
  readonly tls: ProxyTls;
  /** @internal the cached attribute object */
  readonly attributes: Attributes;
}

export interface ProxyMetrics {
  connectionLabels(direction: ProxyDirection, peerIdentity: string, tls: ProxyTls): ConnectionLabels;
  connectionOpened(labels: ConnectionLabels): void;
  connectionClosed(labels: ConnectionLabels): void;
  /** Payload bytes since the last call: `sent` toward the peer, `received` from it. */
  addBytes(labels: ConnectionLabels, sent: number, received: number): void;
  handshakeCompleted(direction: ProxyDirection, seconds: number): void;
  handshakeFailed(direction: ProxyDirection, reason: HandshakeFailureReason): void;
  policyDenied(direction: ProxyDirection, peerIdentity: string, reason: PolicyDenialReason): void;
  connectionFailed(direction: ProxyDirection, reason: ConnectionFailureReason): void;
}

export interface ProxyMetricsOptions {
  /** Distinct peer identities kept as label values; later ones are reported as "other". Default 256. */
  readonly maxPeerIdentities?: number;
}

// Handshakes on a pod network take about a millisecond; the tail is what matters.
const HANDSHAKE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createProxyMetrics(meter: Meter, options: ProxyMetricsOptions = {}): ProxyMetrics {
  const maxPeers = options.maxPeerIdentities ?? 256;
  const opened: Counter = meter.createCounter(PROXY_METRIC_NAMES.connectionsOpened, {
    description: 'Proxied TCP connections accepted and forwarded',
  });
  const closed: Counter = meter.createCounter(PROXY_METRIC_NAMES.connectionsClosed, {
    description: 'Proxied TCP connections closed',
  });
  const open: UpDownCounter = meter.createUpDownCounter(PROXY_METRIC_NAMES.connectionsOpen, {
    description: 'Proxied TCP connections open now',
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
    description: 'Mutual TLS handshakes that failed, by reason',
  });
  const policyDenials: Counter = meter.createCounter(PROXY_METRIC_NAMES.policyDenials, {
    description: 'Connections refused by policy (client identity not allowed, plaintext in STRICT, unmeshed refused)',
  });
  const connectionFailures: Counter = meter.createCounter(PROXY_METRIC_NAMES.connectionFailures, {
    description: 'Connections that could not be forwarded, by reason',
  });

  const peers = new Set<string>();
  const labelCache = new Map<string, ConnectionLabels>();
  const reasonCache = new Map<string, Attributes>();

  const boundedPeer = (identity: string): string => {
    if (identity === '') return UNKNOWN_PEER;
    if (peers.has(identity)) return identity;
    if (peers.size >= maxPeers) return OTHER_PEER;
    peers.add(identity);
    return identity;
  };

  const reasonAttributes = (kind: string, direction: ProxyDirection, reason: string, peer?: string): Attributes => {
    const key = `${kind}|${direction}|${reason}|${peer ?? ''}`;
    let attributes = reasonCache.get(key);
    if (attributes === undefined) {
      attributes = Object.freeze(peer === undefined ? { direction, reason } : { direction, reason, peer_identity: peer });
      reasonCache.set(key, attributes);
    }
    return attributes;
  };

  const directionOnly: Record<ProxyDirection, Attributes> = {
    inbound: Object.freeze({ direction: 'inbound' }),
    outbound: Object.freeze({ direction: 'outbound' }),
  };

  return {
    connectionLabels(direction, peerIdentity, tls) {
      const peer = boundedPeer(peerIdentity);
      const key = `${direction}|${tls}|${peer}`;
      let labels = labelCache.get(key);
      if (labels === undefined) {
        labels = Object.freeze({
          direction,
          peerIdentity: peer,
          tls,
          attributes: Object.freeze({ direction, peer_identity: peer, tls }),
        });
        labelCache.set(key, labels);
      }
      return labels;
    },
    connectionOpened(labels) {
      opened.add(1, labels.attributes);
      open.add(1, labels.attributes);
    },
    connectionClosed(labels) {
      closed.add(1, labels.attributes);
      open.add(-1, labels.attributes);
    },
    addBytes(labels, sentBytes, receivedBytes) {
      if (sentBytes > 0) sent.add(sentBytes, labels.attributes);
      if (receivedBytes > 0) received.add(receivedBytes, labels.attributes);
    },
    handshakeCompleted(direction, seconds) {
      handshakeDuration.record(seconds, directionOnly[direction]);
    },
    handshakeFailed(direction, reason) {
      handshakeFailures.add(1, reasonAttributes('hs', direction, reason));
    },
    policyDenied(direction, peerIdentity, reason) {
      policyDenials.add(1, reasonAttributes('deny', direction, reason, boundedPeer(peerIdentity)));
    },
    connectionFailed(direction, reason) {
      connectionFailures.add(1, reasonAttributes('fail', direction, reason));
    },
  };
}
