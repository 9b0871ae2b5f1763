// The DNS stand-in: with no cluster DNS, each pod's /etc/hosts names every Service that has a
// ready endpoint, pointing straight at one endpoint (there is no kube-proxy for cluster IPs).
import type { V1EndpointSlice, V1HostAlias } from '@kubernetes/client-node';

export interface ServiceAddress {
  namespace: string;
  name: string;
  address: string;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** One ready IPv4 endpoint per Service, chosen deterministically (first slice by name, first endpoint). */
export function serviceAddresses(slices: readonly V1EndpointSlice[]): ServiceAddress[] {
  const chosen = new Map<string, ServiceAddress>();
  const sorted = [...slices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const slice of sorted) {
    const name = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    const namespace = slice.metadata?.namespace;
    if (!name || !namespace || slice.addressType !== 'IPv4' || slice.metadata?.deletionTimestamp) continue;
    const key = `${namespace}/${name}`;
    if (chosen.has(key)) continue;
    // a nil `ready` means unknown, which consumers are to treat as ready
    const endpoint = (slice.endpoints ?? []).find((e) => e.conditions?.ready !== false && (e.addresses?.length ?? 0) > 0);
    if (endpoint?.addresses[0]) chosen.set(key, { namespace, name, address: endpoint.addresses[0] });
  }
  return [...chosen.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export interface HostsFileInput {
  podIP: string;
  hostname: string;
  hostAliases?: V1HostAlias[];
  services: readonly ServiceAddress[];
}

export function renderHostsFile(input: HostsFileInput): string {
  const lines = [
    '# Kubernetes-managed hosts file (reseal e2e pod runner: also stands in for cluster DNS).',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${input.podIP}\t${input.hostname}`,
  ];
  for (const alias of input.hostAliases ?? []) {
    if (alias.ip && alias.hostnames?.length) lines.push(`${alias.ip}\t${alias.hostnames.join(' ')}`);
  }
  for (const svc of input.services) {
    lines.push(`${svc.address}\t${svc.name}.${svc.namespace}.svc ${svc.name}.${svc.namespace}.svc.cluster.local`);
  }
  return `${lines.join('\n')}\n`;
}
