// The cluster as the mesh model needs it: small records, converted from Kubernetes objects
// (kubernetes-records.ts) or read from a standalone topology file (standalone-topology.ts).
import type { DiscoveryService } from '@reseal/core';
import type { Labels } from '../policy/label-selector.js';

export interface PodRecord {
  readonly namespace: string;
  readonly name: string;
  /** Tells a pod from a later one of the same name (StatefulSets); absent in a topology file. */
  readonly uid?: string | undefined;
  /** Empty until the pod has an address; a host-network pod keeps none (its IP is the node's). */
  readonly ips: readonly string[];
  readonly serviceAccount: string;
  readonly meshed: boolean;
  readonly labels: Labels;
  readonly mtlsModeAnnotation?: string | undefined;
  readonly workload: string;
  /** Succeeded or Failed: its IP may already belong to another pod. */
  readonly terminated: boolean;
  /** Milliseconds since the epoch; breaks ties when two pods claim one IP. */
  readonly createdAt: number;
}

export interface ServicePortRecord {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
}

export interface ServiceRecord {
  readonly namespace: string;
  readonly name: string;
  /** Without "None" (headless) and empty entries. */
  readonly clusterIps: readonly string[];
  readonly ports: readonly ServicePortRecord[];
}

export interface EndpointSliceRecord {
  readonly namespace: string;
  readonly name: string;
  /** From label kubernetes.io/service-name. */
  readonly serviceName: string;
  readonly ports: readonly ServicePortRecord[];
  readonly endpoints: readonly { addresses: readonly string[]; ready: boolean }[];
}

export interface NamespaceRecord {
  readonly name: string;
  readonly mtlsModeAnnotation?: string | undefined;
}

/** A Service given with its endpoints already resolved (standalone topology). */
export type StaticServiceRecord = DiscoveryService;
