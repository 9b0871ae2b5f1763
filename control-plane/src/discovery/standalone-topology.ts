// Standalone mode (no Kubernetes, e.g. the demo): the mesh is described by a JSON file and
// served through the same Discovery API. See parseTopology for the format.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { isIP } from 'node:net';
import type { DiscoveryService } from '@reseal/core';
import type { Logger } from 'pino';
import { accessPolicyRecord, type AccessPolicyRecord, type AccessPolicySpec } from '../policy/access-policy.js';
import type { MeshModel } from './mesh-model.js';
import type { NamespaceRecord, PodRecord } from './mesh-records.js';

export interface Topology {
  namespaces: NamespaceRecord[];
  pods: PodRecord[];
  services: DiscoveryService[];
  policies: AccessPolicyRecord[];
}

export class TopologyError extends Error {
  override readonly name = 'TopologyError';
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * {
 *   "namespaces": [{ "name": "shop", "mtlsMode": "PERMISSIVE" }],
 *   "pods": [{ "namespace": "shop", "name": "web-0", "ip": "127.0.0.2", "serviceAccount": "web",
 *              "meshed": true, "labels": { "app": "web" }, "mtlsMode": "STRICT", "workload": "web" }],
 *   "services": [{ "namespace": "shop", "name": "web", "clusterIp": "10.96.0.10",
 *                  "ports": [{ "port": 80, "protocol": "TCP",
 *                              "endpoints": [{ "ip": "127.0.0.2", "port": 8080, "ready": true }] }] }],
 *   "accessPolicies": [{ "namespace": "shop", "name": "web-from-gateway",
 *                        "podSelector": { "matchLabels": { "app": "web" } }, "ports": [8080],
 *                        "allowedIdentities": ["spiffe://cluster.local/ns/edge/sa/gateway"] }]
 * }
 * Every list is optional. Pods: "ips" may replace "ip"; serviceAccount defaults to "default",
 * meshed to true. Endpoints: ready defaults to true. An access policy may also be written as
 * a Kubernetes object ({ "metadata": { namespace, name }, "spec": { ... } }).
 */
export function parseTopology(input: unknown): Topology {
  const root = object(input, 'topology');
  const topology: Topology = { namespaces: [], pods: [], services: [], policies: [] };
  for (const [i, raw] of list(root['namespaces'], 'namespaces').entries()) {
    const at = `namespaces[${i}]`;
    const entry = object(raw, at);
    topology.namespaces.push({ name: name(entry['name'], `${at}.name`), mtlsModeAnnotation: optionalString(entry['mtlsMode'], `${at}.mtlsMode`) });
  }
  const podKeys = new Set<string>();
  for (const [i, raw] of list(root['pods'], 'pods').entries()) {
    const at = `pods[${i}]`;
    const entry = object(raw, at);
    const namespace = name(entry['namespace'], `${at}.namespace`);
    const podName = name(entry['name'], `${at}.name`);
    if (podKeys.has(`${namespace}/${podName}`)) throw new TopologyError(`${at}: pod ${namespace}/${podName} appears twice`);
    podKeys.add(`${namespace}/${podName}`);
    const ips = entry['ips'] !== undefined ? list(entry['ips'], `${at}.ips`).map((ip, j) => address(ip, `${at}.ips[${j}]`)) : [address(entry['ip'], `${at}.ip`)];
    topology.pods.push({
      namespace,
      name: podName,
      ips,
      serviceAccount: entry['serviceAccount'] === undefined ? 'default' : name(entry['serviceAccount'], `${at}.serviceAccount`),
      meshed: optionalBoolean(entry['meshed'], `${at}.meshed`) ?? true,
      labels: labels(entry['labels'], `${at}.labels`),
      mtlsModeAnnotation: optionalString(entry['mtlsMode'], `${at}.mtlsMode`),
      workload: optionalString(entry['workload'], `${at}.workload`) ?? podName,
      terminated: false,
      createdAt: 0,
    });
  }
  for (const [i, raw] of list(root['services'], 'services').entries()) {
    const at = `services[${i}]`;
    const entry = object(raw, at);
    topology.services.push({
      namespace: name(entry['namespace'], `${at}.namespace`),
      name: name(entry['name'], `${at}.name`),
      clusterIp: address(entry['clusterIp'], `${at}.clusterIp`),
      ports: list(entry['ports'], `${at}.ports`).map((rawPort, j) => {
        const portAt = `${at}.ports[${j}]`;
        const port = object(rawPort, portAt);
        return {
          port: portNumber(port['port'], `${portAt}.port`),
          protocol: optionalString(port['protocol'], `${portAt}.protocol`) ?? 'TCP',
          endpoints: list(port['endpoints'], `${portAt}.endpoints`).map((rawEndpoint, k) => {
            const endpointAt = `${portAt}.endpoints[${k}]`;
            const endpoint = object(rawEndpoint, endpointAt);
            return {
              ip: address(endpoint['ip'], `${endpointAt}.ip`),
              port: portNumber(endpoint['port'], `${endpointAt}.port`),
              ready: optionalBoolean(endpoint['ready'], `${endpointAt}.ready`) ?? true,
            };
          }),
        };
      }),
    });
  }
  for (const [i, raw] of list(root['accessPolicies'], 'accessPolicies').entries()) {
    const at = `accessPolicies[${i}]`;
    const entry = object(raw, at);
    const metadata = entry['metadata'] === undefined ? entry : object(entry['metadata'], `${at}.metadata`);
    const spec = (entry['spec'] === undefined ? entry : object(entry['spec'], `${at}.spec`)) as AccessPolicySpec;
    topology.policies.push(accessPolicyRecord(name(metadata['namespace'], `${at}.namespace`), name(metadata['name'], `${at}.name`), spec));
  }
  return topology;
}

/** Replaces everything in the model with the topology. */
export function applyTopology(model: MeshModel, topology: Topology): void {
  for (const kind of ['pods', 'services', 'endpointSlices', 'staticServices', 'namespaces', 'policies'] as const) model.clear(kind);
  for (const namespace of topology.namespaces) model.upsertNamespace(namespace);
  for (const pod of topology.pods) model.upsertPod(pod);
  for (const service of topology.services) model.upsertStaticService(service);
  for (const policy of topology.policies) model.upsertPolicy(policy);
}

export function readTopologyFile(path: string): Topology {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new TopologyError(`cannot read topology file ${path}: ${(error as Error).message}`);
  }
  return parseTopology(parsed);
}

/**
 * Loads the file into the model, then polls it: an edit is applied within a couple of seconds
 * and streamed like any cluster change; an edit that does not parse is logged and ignored.
 */
export function watchTopologyFile(path: string, model: MeshModel, onChange: () => void, logger: Logger, intervalMs = 1000): { stop(): void } {
  const topology = readTopologyFile(path);
  applyTopology(model, topology);
  logTopology(logger, path, topology);
  const listener = (): void => {
    try {
      const next = readTopologyFile(path);
      applyTopology(model, next);
      logTopology(logger, path, next);
      onChange();
    } catch (error) {
      logger.error({ event: 'topology_reload_failed', path, err: error }, 'topology file changed but cannot be used; keeping the previous one');
    }
  };
  watchFile(path, { interval: intervalMs, persistent: false }, listener);
  return { stop: () => unwatchFile(path, listener) };
}

function logTopology(logger: Logger, path: string, topology: Topology): void {
  const problems = topology.policies.flatMap((p) => p.problems.map((problem) => `${p.namespace}/${p.name}: ${problem}`));
  logger.info(
    { event: 'topology_loaded', path, pods: topology.pods.length, services: topology.services.length, policies: topology.policies.length, ...(problems.length ? { problems } : {}) },
    'standalone topology loaded',
  );
}

function object(value: unknown, at: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new TopologyError(`${at} must be an object`);
  return value as Record<string, unknown>;
}

function list(value: unknown, at: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TopologyError(`${at} must be a list`);
  return value;
}

function name(value: unknown, at: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) throw new TopologyError(`${at} must be a Kubernetes-style name (lower-case letters, digits, "-", ".")`);
  return value;
}

function address(value: unknown, at: string): string {
  if (typeof value !== 'string' || isIP(value) === 0) throw new TopologyError(`${at} must be an IPv4 or IPv6 address`);
  return value;
}

function portNumber(value: unknown, at: string): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65535) throw new TopologyError(`${at} must be a port in 1..65535`);
  return value as number;
}

function optionalString(value: unknown, at: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TopologyError(`${at} must be a string`);
  return value;
}

function optionalBoolean(value: unknown, at: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new TopologyError(`${at} must be true or false`);
  return value;
}

function labels(value: unknown, at: string): Record<string, string> {
  if (value === undefined) return {};
  const entries = Object.entries(object(value, at));
  for (const [key, label] of entries) if (typeof label !== 'string') throw new TopologyError(`${at}.${key} must be a string`);
  return Object.fromEntries(entries) as Record<string, string>;
}
