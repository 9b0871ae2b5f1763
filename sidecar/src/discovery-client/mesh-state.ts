import { identityMatches, type InboundPolicy, type WatchResponse } from '@reseal/core';
import type { EndpointInfo, MeshView, MtlsMode, ServiceTarget } from '../mesh-view.js';

export interface MeshStateChange {
  readonly fullSnapshot: boolean;
  readonly policyChanged: boolean;
  /** The new bundle when the message carried one that differs; undefined otherwise. */
  readonly trustBundlePem: string | undefined;
  readonly version: string;
}

interface IdentitySet {
  readonly exact: ReadonlySet<string>;
  readonly prefixPatterns: readonly string[];
}

interface CompiledInbound {
  readonly source: InboundPolicy;
  readonly mode: MtlsMode;
  readonly restricted: boolean;
  readonly byPort: ReadonlyMap<number, IdentitySet>;
  readonly anyPort: IdentitySet | undefined;
}

interface ServiceEntry {
  readonly namespace: string;
  readonly name: string;
  /** TCP ports only: nothing else is captured. */
  readonly ports: ReadonlyMap<number, readonly ServiceTarget[]>;
}

const NO_TARGETS: readonly ServiceTarget[] = Object.freeze([]);

/**
 * What the data path asks of discovery, kept from the control plane's snapshot and deltas.
 * Pure (no I/O) and O(1) per lookup: the proxy asks on every connection. Before the first
 * snapshot it answers as closed as possible: STRICT, nothing allowed in.
 */
export class MeshState implements MeshView {
  private endpoints = new Map<string, EndpointInfo>();
  private services = new Map<string, ServiceEntry>();
  private policy: CompiledInbound | undefined;
  private bundle = '';
  private syncedValue = false;
  private versionValue = '0';

  get synced(): boolean {
    return this.syncedValue;
  }

  get version(): string {
    return this.versionValue;
  }

  /** Applies one message of the Watch stream. */
  apply(message: WatchResponse): MeshStateChange {
    if (message.fullSnapshot) {
      this.endpoints = new Map();
      this.services = new Map();
    } else {
      for (const ip of message.removedEndpoints ?? []) this.endpoints.delete(canonicalIp(ip));
      for (const ip of message.removedServices ?? []) this.services.delete(canonicalIp(ip));
    }
    for (const endpoint of message.endpoints ?? []) {
      const ip = canonicalIp(endpoint.ip);
      this.endpoints.set(
        ip,
        Object.freeze({ ip, identity: endpoint.identity, meshed: endpoint.meshed, namespace: endpoint.namespace, workload: endpoint.workload }),
      );
    }
    for (const service of message.services ?? []) {
      const ports = new Map<number, readonly ServiceTarget[]>();
      for (const port of service.ports ?? []) {
        const protocol = (port.protocol || 'TCP').toUpperCase();
        if (protocol !== 'TCP') continue;
        ports.set(port.port, Object.freeze((port.endpoints ?? []).map((e) => Object.freeze({ ip: canonicalIp(e.ip), port: e.port, ready: e.ready }))));
      }
      this.services.set(canonicalIp(service.clusterIp), { namespace: service.namespace, name: service.name, ports });
    }
    let policyChanged = false;
    if (message.inboundPolicy) {
      policyChanged = JSON.stringify(message.inboundPolicy) !== JSON.stringify(this.policy?.source);
      this.policy = compile(message.inboundPolicy);
    }
    let trustBundlePem: string | undefined;
    if (message.trustBundlePem && message.trustBundlePem !== this.bundle) {
      this.bundle = message.trustBundlePem;
      trustBundlePem = message.trustBundlePem;
    }
    if (message.fullSnapshot) this.syncedValue = true;
    this.versionValue = String(message.version);
    return { fullSnapshot: message.fullSnapshot, policyChanged, trustBundlePem, version: this.versionValue };
  }

  endpoint(ip: string): EndpointInfo | undefined {
    return this.endpoints.get(ip) ?? (needsCanonical(ip) ? this.endpoints.get(canonicalIp(ip)) : undefined);
  }

  serviceTargets(clusterIp: string, port: number): readonly ServiceTarget[] | undefined {
    const service = this.services.get(clusterIp) ?? (needsCanonical(clusterIp) ? this.services.get(canonicalIp(clusterIp)) : undefined);
    if (!service) return undefined;
    return service.ports.get(port) ?? NO_TARGETS;
  }

  mtlsMode(): MtlsMode {
    return this.policy?.mode ?? 'STRICT';
  }

  allowsInbound(port: number, clientIdentity: string): boolean {
    const policy = this.policy;
    if (!policy || !clientIdentity) return false;
    if (!policy.restricted) return true;
    return admits(policy.byPort.get(port), clientIdentity) || admits(policy.anyPort, clientIdentity);
  }

  /** The mesh's roots as last streamed; empty before the first snapshot. */
  trustBundlePem(): string {
    return this.bundle;
  }

  /** As received, for /debug and logs. */
  inboundPolicy(): InboundPolicy | undefined {
    return this.policy?.source;
  }

  counts(): { endpoints: number; services: number } {
    return { endpoints: this.endpoints.size, services: this.services.size };
  }
}

function compile(policy: InboundPolicy): CompiledInbound {
  const grouped = new Map<number, string[]>();
  for (const rule of policy.rules ?? []) {
    const ids = grouped.get(rule.port) ?? [];
    ids.push(...(rule.allowedIdentities ?? []));
    grouped.set(rule.port, ids);
  }
  const byPort = new Map<number, IdentitySet>();
  for (const [port, ids] of grouped) if (port !== 0) byPort.set(port, identitySet(ids));
  const all = grouped.get(0);
  return {
    source: policy,
    // Anything but PERMISSIVE is STRICT: an unknown word must not open plaintext.
    mode: policy.mtlsMode === 'PERMISSIVE' ? 'PERMISSIVE' : 'STRICT',
    restricted: policy.restricted,
    byPort,
    anyPort: all ? identitySet(all) : undefined,
  };
}

function identitySet(patterns: readonly string[]): IdentitySet {
  const exact = new Set<string>();
  const prefixPatterns: string[] = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('*')) prefixPatterns.push(pattern);
    else exact.add(pattern);
  }
  return { exact, prefixPatterns };
}

function admits(set: IdentitySet | undefined, id: string): boolean {
  if (!set) return false;
  if (set.exact.has(id)) return true;
  for (const pattern of set.prefixPatterns) if (identityMatches(pattern, id)) return true;
  return false;
}

/** Sockets on dual-stack listeners report IPv4 peers as ::ffff:a.b.c.d; IPv6 has many spellings. */
function needsCanonical(ip: string): boolean {
  return ip.includes(':');
}

export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const lower = ip.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  if (mapped) return mapped[1]!;
  try {
    return new URL(`http://[${lower}]/`).hostname.slice(1, -1);
  } catch {
    return lower;
  }
}
