import type { Socket } from 'node:net';
import type { MeshView } from '../mesh-view.js';
import type { ConnectionFailureReason, PolicyDenialReason } from '../proxy-core/failure-reason.js';
import { errorText } from '../proxy-core/failure-reason.js';
import type { Destination } from '../telemetry/proxy-metrics.js';
import { pickTarget } from './target-balancer.js';
import type { TargetLoad } from './target-balancer.js';

/** Where one outbound connection goes, decided before anything is dialled. */
export type OutboundRoute =
  /** Mutual TLS to host:port; the server must prove `identity`. */
  | { readonly kind: 'mtls'; readonly host: string; readonly port: number; readonly identity: string; readonly destination?: Destination }
  /** Plain TCP to an unmeshed destination. */
  | { readonly kind: 'passthrough'; readonly host: string; readonly port: number; readonly destination?: Destination }
  /** Refused by configuration (e.g. unmeshed destinations refused); `destination` when discovery knows the pod. */
  | { readonly kind: 'deny'; readonly reason: PolicyDenialReason; readonly detail: string; readonly destination?: Destination }
  /** Cannot be forwarded (no original destination, no ready endpoint, discovery not synced). */
  | { readonly kind: 'fail'; readonly reason: ConnectionFailureReason; readonly detail: string };

export interface OutboundRouter {
  route(socket: Socket, load: TargetLoad): OutboundRoute;
}

export interface OriginalDestination {
  readonly address: string;
  readonly port: number;
}

export type UnmeshedPolicy = 'passthrough' | 'refuse';

export interface MeshRouterOptions {
  readonly meshView: MeshView;
  /**
   * The address the app dialled before iptables redirected it here: in a pod,
   * capture/original-destination.ts `originalDestination` (SO_ORIGINAL_DST); tests pass
   * their own. Throwing means "not redirected": the connection is refused.
   */
  readonly resolveOriginalDestination: (socket: Socket) => OriginalDestination;
  /** What to do with a destination that is not a meshed pod. Default 'passthrough'. */
  readonly unmeshed?: UnmeshedPolicy;
  readonly random?: () => number;
}

/**
 * The transparent (iptables) router. The destination keeps its IP and port: a meshed pod
 * is dialled at podIP:originalPort with TLS, and that pod's PREROUTING rule redirects the
 * connection to its inbound listener (15006), where SO_ORIGINAL_DST yields the app port.
 * So the app port needs no header or SNI of its own, and the hop looks like the app's own
 * connection to anything in between.
 *
 * A Service cluster IP is resolved to its ready endpoints, balanced by power of two
 * choices on open connections. Until discovery has synced, nothing is forwarded: an
 * unknown destination might be a meshed pod, and sending it plaintext would be a downgrade.
 */
export function meshRouter(options: MeshRouterOptions): OutboundRouter {
  const { meshView, resolveOriginalDestination } = options;
  const unmeshed = options.unmeshed ?? 'passthrough';
  const random = options.random ?? Math.random;
  return {
    route(socket, load) {
      let destination: OriginalDestination;
      try {
        destination = resolveOriginalDestination(socket);
      } catch (error) {
        return { kind: 'fail', reason: 'no_original_destination', detail: errorText(error) };
      }
      if (!meshView.synced) {
        return { kind: 'fail', reason: 'not_synced', detail: 'discovery has not delivered its first snapshot' };
      }
      let host = unmapIpv4(destination.address);
      let port = destination.port;
      const targets = meshView.serviceTargets(host, port);
      if (targets !== undefined) {
        const target = pickTarget(targets, load, random);
        if (target === undefined) {
          return { kind: 'fail', reason: 'no_endpoints', detail: `service ${host}:${port} has no ready endpoint` };
        }
        host = target.ip;
        port = target.port;
      }
      const endpoint = meshView.endpoint(host);
      // The workload behind the address, for metrics and logs, when discovery knows the pod.
      const workload = endpoint === undefined ? {} : { destination: { workload: endpoint.workload, namespace: endpoint.namespace } };
      if (endpoint?.meshed === true && endpoint.identity !== '') {
        return { kind: 'mtls', host, port, identity: endpoint.identity, ...workload };
      }
      if (unmeshed === 'refuse') {
        return { kind: 'deny', reason: 'unmeshed_refused', detail: `${host}:${port} is not a meshed endpoint`, ...workload };
      }
      return { kind: 'passthrough', host, port, ...workload };
    },
  };
}

export interface StaticDestination {
  readonly host: string;
  readonly port: number;
  /** The SPIFFE ID the server must present. */
  readonly identity: string;
}

/** Explicit mode: every connection goes to one configured peer with mutual TLS. */
export function staticRouter(destination: StaticDestination): OutboundRouter {
  const route: OutboundRoute = Object.freeze({ kind: 'mtls', ...destination });
  return { route: () => route };
}

/** '::ffff:10.0.0.1' → '10.0.0.1': discovery keys IPv4 endpoints by their dotted form. */
export function unmapIpv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
