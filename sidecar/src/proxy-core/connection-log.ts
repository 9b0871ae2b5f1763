// The one log line per connection close, the same on both sides: who (the peer's and this
// workload's SPIFFE IDs, as the metrics label them), how (tls, protocol), where to
// (destination workload), how much and how long, and why it ended. Never a key or a token:
// only identities, addresses, counts.

import type { HttpObserver } from '../http-observe/http-observer.js';
import type { ConnectionLabels } from '../telemetry/proxy-metrics.js';
import type { ProxyConnection } from './connection-tracker.js';
import { errorText } from './failure-reason.js';
import type { SocketRelay } from './socket-relay.js';

export function connectionClosedFields(
  connection: ProxyConnection,
  relay: SocketRelay,
  labels: ConnectionLabels,
  peer: string | undefined,
  observer: HttpObserver | undefined,
  protocol: string | undefined,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    event: 'connection_closed',
    peer,
    tls: labels.tls,
    dst_workload: labels.destinationWorkload,
    dst_namespace: labels.destinationNamespace,
    sent_bytes: relay.localToPeer,
    received_bytes: relay.peerToLocal,
    duration_ms: Math.round((performance.now() - connection.acceptedAt) * 1000) / 1000,
    reason: relay.closeCause,
  };
  if (observer !== undefined) {
    fields.protocol = observer.protocol === 'detecting' ? 'none' : observer.protocol;
    if (observer.protocol === 'http1') fields.http_requests = observer.requests;
  } else if (protocol !== undefined) {
    fields.protocol = protocol;
  }
  if (relay.error !== undefined) fields.err = errorText(relay.error);
  return fields;
}
