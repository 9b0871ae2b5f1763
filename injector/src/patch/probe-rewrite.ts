// Under STRICT mTLS, kubelet's plaintext probes to an app port would be captured and refused
// by the inbound proxy. So kubelet is pointed at the proxy's admin port (never captured), and
// the proxy runs the original probe over loopback. Exec probes run inside the container and
// need nothing; probes aimed at another host leave the pod and are not captured either.

import { ADMIN_PORT } from './inject-context.js';
import { pointer, type JsonPatchOperation } from './json-patch.js';
import { isObject, type ContainerLike, type JsonObject } from './pod-shape.js';

export const PROBE_FIELDS = { liveness: 'livenessProbe', readiness: 'readinessProbe', startup: 'startupProbe' } as const;
export type ProbeKind = keyof typeof PROBE_FIELDS;

/** RESEAL_APP_PROBES of the proxy (sidecar admin/app-probes.ts parseAppProbes). */
export type AppProbes = Record<string, Partial<Record<ProbeKind, JsonObject>>>;

const HANDLERS = ['httpGet', 'tcpSocket', 'grpc', 'exec'] as const;
const PASSED_FIELDS = { httpGet: ['path', 'scheme', 'httpHeaders'], tcpSocket: [], grpc: ['service'] } as const satisfies Record<string, readonly string[]>;

/** The path kubelet gets instead of the app's own probe. */
export function appHealthPath(container: string, kind: ProbeKind): string {
  return `/app-health/${container}/${kind}`;
}

/** A probe port as a number: numeric, a numeric string, or the name of one of the container's ports. */
function resolvePort(port: unknown, container: ContainerLike): number | undefined {
  if (typeof port === 'number') return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
  if (typeof port !== 'string') return undefined;
  if (/^[0-9]+$/.test(port)) return resolvePort(Number(port), container);
  const ports = Array.isArray(container.ports) ? container.ports : [];
  const named = ports.find((p): p is JsonObject => isObject(p) && p.name === port);
  return named ? resolvePort(named.containerPort, container) : undefined;
}

/**
 * The original probe with its port resolved, or undefined when this probe stays as it is:
 * exec, a remote host, or a named port the container does not declare (kubelet would fail
 * it too, and the author is better served by kubelet's own error than by ours).
 */
function originalProbe(probe: JsonObject, container: ContainerLike): JsonObject | undefined {
  const present = HANDLERS.filter((h) => probe[h] !== undefined && probe[h] !== null);
  if (present.length !== 1) return undefined;
  const handler = present[0] as (typeof HANDLERS)[number];
  const action = probe[handler];
  if (handler === 'exec' || !isObject(action)) return undefined;
  if (typeof action.host === 'string' && action.host !== '') return undefined;
  const port = resolvePort(action.port, container);
  if (port === undefined) return undefined;
  // Only the fields the proxy's probe runner uses: the env var stays small, and nothing the
  // proxy does not understand reaches it.
  const known = PASSED_FIELDS[handler].filter((key) => action[key] !== undefined && action[key] !== null);
  const fields = Object.fromEntries(known.map((key) => [key, action[key]]));
  if (handler === 'httpGet' && !proxyAcceptsHttpGet(fields)) return undefined;
  if (handler === 'grpc' && fields.service !== undefined && typeof fields.service !== 'string') return undefined;
  const original: JsonObject = { [handler]: { ...fields, port } };
  const timeout = probe.timeoutSeconds;
  if (typeof timeout === 'number' && Number.isInteger(timeout) && timeout >= 1) original.timeoutSeconds = timeout;
  return original;
}

/**
 * The proxy refuses to start on a probe it cannot run (sidecar parseAppProbes), which would
 * take the whole pod down; such a probe is better left to kubelet as it is.
 */
function proxyAcceptsHttpGet(fields: JsonObject): boolean {
  const { path, scheme, httpHeaders } = fields;
  if (path !== undefined && (typeof path !== 'string' || /[\s\0]/.test(path))) return false;
  if (scheme !== undefined && (typeof scheme !== 'string' || !['HTTP', 'HTTPS'].includes(scheme.toUpperCase()))) return false;
  if (httpHeaders === undefined) return true;
  return (
    Array.isArray(httpHeaders) &&
    httpHeaders.every(
      (h) => isObject(h) && typeof h.name === 'string' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h.name) && typeof h.value === 'string' && !/[\r\n\0]/.test(h.value),
    )
  );
}

export interface ProbeRewrite {
  readonly operations: JsonPatchOperation[];
  readonly appProbes: AppProbes;
}

/**
 * Rewrites the probes of the given containers (regular ones, and the app's own native
 * sidecars, which kubelet probes too). `listField` is `containers` or `initContainers`.
 */
export function rewriteProbes(
  containers: readonly ContainerLike[],
  listField: 'containers' | 'initContainers',
  into: ProbeRewrite,
  include: (container: ContainerLike) => boolean = () => true,
): void {
  containers.forEach((container, index) => {
    if (!include(container)) return;
    for (const [kind, field] of Object.entries(PROBE_FIELDS) as [ProbeKind, string][]) {
      const probe = container[field];
      if (!isObject(probe)) continue;
      const original = originalProbe(probe, container);
      if (!original) continue;
      // Timing and thresholds stay with kubelet, which still decides when to probe and when to give up.
      const timing = Object.fromEntries(Object.entries(probe).filter(([key]) => !(HANDLERS as readonly string[]).includes(key)));
      const rewritten = { ...timing, httpGet: { path: appHealthPath(container.name, kind), port: ADMIN_PORT, scheme: 'HTTP' } };
      into.operations.push({ op: 'replace', path: pointer('spec', listField, index, field), value: rewritten });
      (into.appProbes[container.name] ??= {})[kind] = original;
    }
  });
}
