// What the data path asks of discovery. Implemented by discovery-client/ (a gRPC watch of the
// control plane) and, in explicit mode, by a static table; inbound/ and outbound/ only see this.

export interface EndpointInfo {
  readonly ip: string;
  /** SPIFFE ID of the workload there; empty when not meshed. */
  readonly identity: string;
  readonly meshed: boolean;
  readonly namespace: string;
  readonly workload: string;
}

export interface ServiceTarget {
  readonly ip: string;
  readonly port: number;
  readonly ready: boolean;
}

export type MtlsMode = 'STRICT' | 'PERMISSIVE';

export interface MeshView {
  /** True once the first full snapshot arrived (readiness needs it). */
  readonly synced: boolean;
  endpoint(ip: string): EndpointInfo | undefined;
  /** Endpoints behind a Service cluster IP and port; undefined when `ip` is no cluster IP. */
  serviceTargets(clusterIp: string, port: number): readonly ServiceTarget[] | undefined;
  /** mTLS mode of this pod's inbound side. */
  mtlsMode(): MtlsMode;
  /** May `clientIdentity` (a verified SPIFFE ID) connect to this pod's `port`? */
  allowsInbound(port: number, clientIdentity: string): boolean;
}
