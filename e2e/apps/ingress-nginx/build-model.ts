// The model from the API objects, the way ingress-nginx reads them: Ingresses of our class,
// their TLS Secrets (same namespace), the backend Service's port, and the ready addresses of
// that port in the Service's EndpointSlices; traffic goes to pod IPs, never the cluster IP.
// Pure: the informers' caches in, the model out.
import type { V1EndpointSlice, V1Ingress, V1IngressBackend, V1Secret, V1Service } from '@kubernetes/client-node';
import type { Backend, CertificatePem, Location, NginxModel, PathType, Server, Upstream } from './model.js';
import { isValidHost, isValidPath } from './render-config.js';
import { readTlsSecret } from './tls-secret.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
export const SSL_REDIRECT_ANNOTATION = 'nginx.ingress.kubernetes.io/ssl-redirect';

export interface ClusterState {
  ingresses: readonly V1Ingress[];
  secrets: readonly V1Secret[];
  services: readonly V1Service[];
  endpointSlices: readonly V1EndpointSlice[];
}

export interface ModelWarning {
  /** `namespace/name` of the Ingress. */
  ingress: string;
  reason: string;
}

export interface BuiltModel {
  model: NginxModel;
  /** The certificates the model refers to, by id. */
  certificates: Map<string, CertificatePem>;
  /** What was skipped or degraded to a 503, for the log. */
  warnings: ModelWarning[];
}

/** Ingresses whose `spec.ingressClassName` (or, without one, the legacy annotation) is ours, oldest first. */
export function ingressesOfClass(ingresses: readonly V1Ingress[], ingressClass: string): V1Ingress[] {
  return ingresses
    .filter((ing) => (ing.spec?.ingressClassName ?? ing.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION]) === ingressClass)
    .sort(byAge);
}

export function buildModel(state: ClusterState, ingressClass: string): BuiltModel {
  const warnings: ModelWarning[] = [];
  const certificates = new Map<string, CertificatePem>();
  const upstreams = new Map<string, Upstream>();
  const servers = new Map<string, Server>();
  const defaultLocations: Location[] = [];
  const index = indexState(state);
  const ingresses = ingressesOfClass(state.ingresses, ingressClass);

  // TLS first: a host's certificate may come from any Ingress naming it, the oldest first.
  const certByHost = new Map<string, string>();
  for (const ing of ingresses) {
    const ns = ing.metadata?.namespace ?? '';
    const ruleHosts = (ing.spec?.rules ?? []).map((r) => r.host).filter((h): h is string => !!h);
    for (const tls of ing.spec?.tls ?? []) {
      if (!tls.secretName) continue;
      const secret = index.secrets.get(`${ns}/${tls.secretName}`);
      if (!secret) {
        warnings.push({ ingress: key(ing), reason: `TLS secret ${tls.secretName} not found: the default certificate is served` });
        continue;
      }
      const read = readTlsSecret(secret);
      if (!read.ok) {
        warnings.push({ ingress: key(ing), reason: `TLS secret ${tls.secretName}: ${read.reason}: the default certificate is served` });
        continue;
      }
      certificates.set(read.id, read.pem);
      // a TLS entry without hosts covers the Ingress's own hosts
      for (const host of tls.hosts?.length ? tls.hosts : ruleHosts) {
        if (!certByHost.has(host)) certByHost.set(host, read.id);
      }
    }
  }

  const backendFor = (ing: V1Ingress, backend: V1IngressBackend): Backend => {
    const resolved = resolveBackend(ing.metadata?.namespace ?? '', backend, index);
    if ('reason' in resolved) {
      warnings.push({ ingress: key(ing), reason: `${resolved.reason}: answering 503` });
      return { kind: 'status', status: 503 };
    }
    upstreams.set(resolved.name, resolved);
    return { kind: 'upstream', upstream: resolved.name };
  };

  const serverFor = (ing: V1Ingress, host: string): Server => {
    let server = servers.get(host);
    if (!server) {
      const certificate = certByHost.get(host) ?? wildcardCertificate(certByHost, host);
      server = { host, sslRedirect: true, locations: [], ...(certificate !== undefined ? { certificate } : {}) };
      servers.set(host, server);
    }
    if (ing.metadata?.annotations?.[SSL_REDIRECT_ANNOTATION] === 'false') server.sslRedirect = false;
    return server;
  };

  for (const ing of ingresses) {
    const source = key(ing);
    const rules = ing.spec?.rules ?? [];
    const hostsOfIngress: Location[][] = [];
    for (const rule of rules) {
      let locations: Location[];
      if (rule.host) {
        if (!isValidHost(rule.host)) {
          warnings.push({ ingress: source, reason: `host ${JSON.stringify(rule.host)} is not supported: rule skipped` });
          continue;
        }
        locations = serverFor(ing, rule.host).locations;
      } else {
        locations = defaultLocations;
      }
      hostsOfIngress.push(locations);
      for (const path of rule.http?.paths ?? []) {
        const value = path.path || '/';
        const pathType = (path.pathType ?? 'ImplementationSpecific') as PathType;
        if (!isValidPath(value) || !['Prefix', 'Exact', 'ImplementationSpecific'].includes(pathType)) {
          warnings.push({ ingress: source, reason: `path ${JSON.stringify(value)} (${pathType}) is not supported: skipped` });
          continue;
        }
        locations.push({ path: value, pathType, backend: backendFor(ing, path.backend), source });
      }
    }
    // spec.defaultBackend: the fallback of the Ingress's hosts, or the catch-all if it has no rules
    if (ing.spec?.defaultBackend) {
      const backend = backendFor(ing, ing.spec.defaultBackend);
      const targets = rules.length ? hostsOfIngress : [defaultLocations];
      for (const locations of targets) locations.push({ path: '/', pathType: 'Prefix', backend, source: `${source} (default backend)` });
    }
  }

  return {
    model: { servers: [...servers.values()], defaultLocations, upstreams: [...upstreams.values()] },
    certificates,
    warnings,
  };
}

interface StateIndex {
  secrets: Map<string, V1Secret>;
  services: Map<string, V1Service>;
  /** `namespace/service` → its EndpointSlices */
  slices: Map<string, V1EndpointSlice[]>;
}

function indexState(state: ClusterState): StateIndex {
  const secrets = new Map(state.secrets.map((s) => [key(s), s]));
  const services = new Map(state.services.map((s) => [key(s), s]));
  const slices = new Map<string, V1EndpointSlice[]>();
  for (const slice of state.endpointSlices) {
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!service) continue;
    const k = `${slice.metadata?.namespace ?? ''}/${service}`;
    slices.set(k, [...(slices.get(k) ?? []), slice]);
  }
  return { secrets, services, slices };
}

function resolveBackend(namespace: string, backend: V1IngressBackend, index: StateIndex): Upstream | { reason: string } {
  const ref = backend.service;
  if (!ref) return { reason: 'resource backends are not supported' };
  const service = index.services.get(`${namespace}/${ref.name}`);
  if (!service) return { reason: `service ${ref.name} not found` };
  if (service.spec?.type === 'ExternalName') return { reason: `service ${ref.name} is ExternalName` };
  const wanted = ref.port?.number !== undefined ? `port ${ref.port.number}` : `port ${JSON.stringify(ref.port?.name)}`;
  const servicePort = (service.spec?.ports ?? []).find((p) =>
    ref.port?.number !== undefined ? p.port === ref.port.number : ref.port?.name !== undefined && p.name === ref.port.name,
  );
  if (!servicePort) return { reason: `service ${ref.name} has no ${wanted}` };

  // EndpointSlices carry the target port already resolved, under the service port's name
  const portName = servicePort.name ?? '';
  const addresses = new Set<string>();
  for (const slice of index.slices.get(`${namespace}/${ref.name}`) ?? []) {
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const port = (slice.ports ?? []).find((p) => (p.name ?? '') === portName)?.port;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue; // unset means ready
      for (const ip of endpoint.addresses) addresses.add(slice.addressType === 'IPv6' ? `[${ip}]:${port}` : `${ip}:${port}`);
    }
  }
  if (addresses.size === 0) return { reason: `service ${ref.name} ${wanted} has no ready endpoints` };
  return { name: `${namespace}-${ref.name}-${servicePort.port}`, addresses: [...addresses].sort() };
}

function wildcardCertificate(certByHost: Map<string, string>, host: string): string | undefined {
  const dot = host.indexOf('.');
  return dot > 0 && !host.startsWith('*.') ? certByHost.get(`*${host.slice(dot)}`) : undefined;
}

function key(obj: { metadata?: { namespace?: string; name?: string } }): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

function byAge(a: V1Ingress, b: V1Ingress): number {
  const ta = a.metadata?.creationTimestamp ? new Date(a.metadata.creationTimestamp).getTime() : 0;
  const tb = b.metadata?.creationTimestamp ? new Date(b.metadata.creationTimestamp).getTime() : 0;
  if (ta !== tb) return ta - tb;
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
