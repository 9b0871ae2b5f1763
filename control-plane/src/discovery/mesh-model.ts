import { workloadSpiffeId, type DiscoveryEndpoint, type DiscoveryPortEndpoint, type DiscoveryService } from '@reseal/core';
import type { AccessPolicyRecord } from '../policy/access-policy.js';
import { compileInboundPolicy, type CompiledPolicy } from '../policy/compile-inbound-policy.js';
import { versioned, type MeshTables, type Versioned } from './mesh-delta.js';
import type { EndpointSliceRecord, NamespaceRecord, PodRecord, ServiceRecord, StaticServiceRecord } from './mesh-records.js';

/**
 * The cluster state that matters to sidecars, and what follows from it: the endpoint and
 * service tables, and each pod's inbound policy. Pure: sources (informers, a topology file)
 * put records in; the discovery hub decides when to rebuild and what to send.
 */
export class MeshModel {
  private readonly pods = new Map<string, PodRecord>();
  private readonly podsByIp = new Map<string, Set<string>>();
  private readonly services = new Map<string, ServiceRecord>();
  private readonly slices = new Map<string, EndpointSliceRecord>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly staticServices = new Map<string, StaticServiceRecord>();
  private readonly namespaces = new Map<string, NamespaceRecord>();
  private readonly policies = new Map<string, AccessPolicyRecord>();
  private readonly policiesByNamespace = new Map<string, Map<string, AccessPolicyRecord>>();
  /** Bumped by anything that changes the tables. */
  private topologyRevision = 0;
  /** Bumped by anything that can change a pod's inbound policy. */
  private policyRevisionValue = 0;

  constructor(private readonly trustDomain: string) {}

  get revision(): { topology: number; policy: number } {
    return { topology: this.topologyRevision, policy: this.policyRevisionValue };
  }

  upsertPod(pod: PodRecord): void {
    const key = keyOf(pod.namespace, pod.name);
    // Most pod updates are status churn that changes nothing here; skip the rebuild they would cost.
    const old = this.pods.get(key);
    if (old && samePod(old, pod)) return;
    this.unindexPod(key);
    this.pods.set(key, pod);
    for (const ip of pod.ips) {
      let keys = this.podsByIp.get(ip);
      if (!keys) this.podsByIp.set(ip, (keys = new Set()));
      keys.add(key);
    }
    this.topologyRevision++;
    this.policyRevisionValue++;
  }

  removePod(namespace: string, name: string): void {
    const key = keyOf(namespace, name);
    if (!this.pods.has(key)) return;
    this.unindexPod(key);
    this.pods.delete(key);
    this.topologyRevision++;
  }

  pod(namespace: string, name: string): PodRecord | undefined {
    return this.pods.get(keyOf(namespace, name));
  }

  /** The pod an IP belongs to now (the same choice the endpoint table makes). */
  podByIp(ip: string): PodRecord | undefined {
    return this.ownerOf(ip);
  }

  upsertService(service: ServiceRecord): void {
    this.services.set(keyOf(service.namespace, service.name), service);
    this.topologyRevision++;
  }

  removeService(namespace: string, name: string): void {
    if (this.services.delete(keyOf(namespace, name))) this.topologyRevision++;
  }

  upsertEndpointSlice(slice: EndpointSliceRecord): void {
    const key = keyOf(slice.namespace, slice.name);
    this.unindexSlice(key);
    this.slices.set(key, slice);
    const serviceKey = keyOf(slice.namespace, slice.serviceName);
    let keys = this.slicesByService.get(serviceKey);
    if (!keys) this.slicesByService.set(serviceKey, (keys = new Set()));
    keys.add(key);
    this.topologyRevision++;
  }

  removeEndpointSlice(namespace: string, name: string): void {
    const key = keyOf(namespace, name);
    if (!this.slices.has(key)) return;
    this.unindexSlice(key);
    this.slices.delete(key);
    this.topologyRevision++;
  }

  upsertStaticService(service: StaticServiceRecord): void {
    this.staticServices.set(service.clusterIp, service);
    this.topologyRevision++;
  }

  removeStaticService(clusterIp: string): void {
    if (this.staticServices.delete(clusterIp)) this.topologyRevision++;
  }

  upsertNamespace(namespace: NamespaceRecord): void {
    this.namespaces.set(namespace.name, namespace);
    this.policyRevisionValue++;
  }

  removeNamespace(name: string): void {
    if (this.namespaces.delete(name)) this.policyRevisionValue++;
  }

  upsertPolicy(policy: AccessPolicyRecord): void {
    const key = keyOf(policy.namespace, policy.name);
    this.policies.set(key, policy);
    let inNamespace = this.policiesByNamespace.get(policy.namespace);
    if (!inNamespace) this.policiesByNamespace.set(policy.namespace, (inNamespace = new Map()));
    inNamespace.set(policy.name, policy);
    this.policyRevisionValue++;
  }

  removePolicy(namespace: string, name: string): void {
    if (!this.policies.delete(keyOf(namespace, name))) return;
    const inNamespace = this.policiesByNamespace.get(namespace);
    inNamespace?.delete(name);
    if (inNamespace?.size === 0) this.policiesByNamespace.delete(namespace);
    this.policyRevisionValue++;
  }

  /** Drops every record of one kind, for a source that relists from scratch or goes away. */
  clear(kind: 'pods' | 'services' | 'endpointSlices' | 'staticServices' | 'namespaces' | 'policies'): void {
    switch (kind) {
      case 'pods':
        this.pods.clear();
        this.podsByIp.clear();
        break;
      case 'services':
        this.services.clear();
        break;
      case 'endpointSlices':
        this.slices.clear();
        this.slicesByService.clear();
        break;
      case 'staticServices':
        this.staticServices.clear();
        break;
      case 'namespaces':
        this.namespaces.clear();
        break;
      case 'policies':
        this.policies.clear();
        this.policiesByNamespace.clear();
        break;
    }
    this.topologyRevision++;
    this.policyRevisionValue++;
  }

  /** Undefined when the pod is unknown, or when `uid` is given and the pod of that name is another one. */
  inboundPolicy(namespace: string, name: string, uid?: string): CompiledPolicy | undefined {
    const pod = this.pod(namespace, name);
    if (!pod || (uid !== undefined && pod.uid !== uid)) return undefined;
    return compileInboundPolicy({
      pod,
      namespaceMtlsModeAnnotation: this.namespaces.get(namespace)?.mtlsModeAnnotation,
      policies: this.policiesByNamespace.get(namespace)?.values() ?? [],
    });
  }

  buildTables(): MeshTables {
    const endpoints = new Map<string, Versioned<DiscoveryEndpoint>>();
    for (const ip of [...this.podsByIp.keys()].sort()) {
      const pod = this.ownerOf(ip);
      if (pod) endpoints.set(ip, versioned(this.endpointOf(ip, pod)));
    }
    const services = new Map<string, Versioned<DiscoveryService>>();
    const ordered = [...this.services.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, service] of ordered) {
      const ports = service.ports.map((port) => ({
        port: port.port,
        protocol: port.protocol,
        endpoints: this.portEndpoints(key, port.name, port.protocol),
      }));
      for (const clusterIp of service.clusterIps) {
        // Two Services never share a cluster IP in a healthy cluster; keep the first by name.
        if (!services.has(clusterIp)) services.set(clusterIp, versioned({ clusterIp, namespace: service.namespace, name: service.name, ports }));
      }
    }
    for (const [clusterIp, service] of this.staticServices) services.set(clusterIp, versioned(service));
    return { endpoints, services };
  }

  private endpointOf(ip: string, pod: PodRecord): DiscoveryEndpoint {
    let identity = '';
    if (pod.meshed) {
      try {
        identity = workloadSpiffeId(this.trustDomain, pod.namespace, pod.serviceAccount);
      } catch {
        // Names the API server accepted always make a valid ID; a topology file may not.
        identity = '';
      }
    }
    return { ip, identity, meshed: pod.meshed && identity !== '', namespace: pod.namespace, podName: pod.name, workload: pod.workload };
  }

  /**
   * Several pods can claim one IP for a moment (a finished pod whose IP was reused, a stale
   * cache): prefer a pod that still runs, then the newest.
   */
  private ownerOf(ip: string): PodRecord | undefined {
    let best: PodRecord | undefined;
    for (const key of this.podsByIp.get(ip) ?? []) {
      const pod = this.pods.get(key);
      if (!pod || pod.terminated) continue;
      if (!best || pod.createdAt > best.createdAt || (pod.createdAt === best.createdAt && pod.name < best.name)) best = pod;
    }
    return best;
  }

  private portEndpoints(serviceKey: string, portName: string, protocol: string): DiscoveryPortEndpoint[] {
    const byAddress = new Map<string, DiscoveryPortEndpoint>();
    for (const sliceKey of this.slicesByService.get(serviceKey) ?? []) {
      const slice = this.slices.get(sliceKey);
      const slicePort = slice?.ports.find((p) => p.name === portName && p.protocol === protocol);
      if (!slice || !slicePort) continue;
      for (const endpoint of slice.endpoints) {
        for (const ip of endpoint.addresses) {
          const key = `${ip}|${slicePort.port}`;
          // During a slice handover an address can be in two slices; ready in either counts.
          const seen = byAddress.get(key);
          if (!seen || (!seen.ready && endpoint.ready)) byAddress.set(key, { ip, port: slicePort.port, ready: endpoint.ready });
        }
      }
    }
    return [...byAddress.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port));
  }

  private unindexPod(key: string): void {
    const old = this.pods.get(key);
    for (const ip of old?.ips ?? []) {
      const keys = this.podsByIp.get(ip);
      keys?.delete(key);
      if (keys?.size === 0) this.podsByIp.delete(ip);
    }
  }

  private unindexSlice(key: string): void {
    const old = this.slices.get(key);
    if (!old) return;
    const serviceKey = keyOf(old.namespace, old.serviceName);
    const keys = this.slicesByService.get(serviceKey);
    keys?.delete(key);
    if (keys?.size === 0) this.slicesByService.delete(serviceKey);
  }
}

function samePod(a: PodRecord, b: PodRecord): boolean {
  return (
    a.uid === b.uid &&
    a.serviceAccount === b.serviceAccount &&
    a.meshed === b.meshed &&
    a.workload === b.workload &&
    a.terminated === b.terminated &&
    a.createdAt === b.createdAt &&
    a.mtlsModeAnnotation === b.mtlsModeAnnotation &&
    a.ips.length === b.ips.length &&
    a.ips.every((ip, i) => ip === b.ips[i]) &&
    sameLabels(a.labels, b.labels)
  );
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => b[key] === a[key]);
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
