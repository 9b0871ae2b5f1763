import type { InboundPolicy, PortRule, WireMtlsMode } from '@reseal/core';
import type { AccessPolicyRecord } from './access-policy.js';
import type { Labels } from './label-selector.js';
import { DEFAULT_MTLS_MODE, MTLS_MODE_ANNOTATION, parseMtlsMode } from './mtls-mode.js';

export interface PolicyTarget {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  /** The pod's own `reseal.dev/mtls-mode` annotation, if any. */
  readonly mtlsModeAnnotation?: string | undefined;
}

export interface CompileInput {
  readonly pod: PolicyTarget;
  /** The namespace's `reseal.dev/mtls-mode` annotation, if any. */
  readonly namespaceMtlsModeAnnotation?: string | undefined;
  /** Policies of any namespace; only the pod's own namespace counts. */
  readonly policies: Iterable<AccessPolicyRecord>;
}

export interface CompiledPolicy {
  readonly policy: InboundPolicy;
  /** For the operator: invalid modes, broken policies that select this pod. */
  readonly warnings: readonly string[];
}

/**
 * The inbound side of one pod. mTLS mode: the pod's annotation, else its namespace's, else
 * STRICT; an invalid value at either level means STRICT, never the more open neighbour.
 * Authorization: no AccessPolicy selects the pod → unrestricted (any meshed identity);
 * otherwise the union of what the selecting policies allow, per port (port 0 = all ports).
 */
export function compileInboundPolicy(input: CompileInput): CompiledPolicy {
  const warnings: string[] = [];
  const { pod } = input;
  const mtlsMode = chooseMode(pod, input.namespaceMtlsModeAnnotation, warnings);

  const allowed = new Map<number, Set<string>>();
  let restricted = false;
  for (const policy of input.policies) {
    if (policy.namespace !== pod.namespace || !policy.selects(pod.labels)) continue;
    restricted = true;
    for (const problem of policy.problems) warnings.push(`AccessPolicy ${policy.namespace}/${policy.name}: ${problem}`);
    if (policy.allowedIdentities.length === 0) continue;
    for (const port of policy.ports === 'all' ? [0] : policy.ports) {
      let ids = allowed.get(port);
      if (!ids) allowed.set(port, (ids = new Set()));
      for (const id of policy.allowedIdentities) ids.add(id);
    }
  }
  const rules: PortRule[] = [...allowed.entries()]
    .sort(([a], [b]) => a - b)
    .map(([port, ids]) => ({ port, allowedIdentities: [...ids].sort() }));
  return { policy: { mtlsMode, restricted, rules: restricted ? rules : [] }, warnings };
}

function chooseMode(pod: PolicyTarget, namespaceAnnotation: string | undefined, warnings: string[]): WireMtlsMode {
  const own = parseMtlsMode(pod.mtlsModeAnnotation);
  if (own.kind === 'valid') return own.mode;
  if (own.kind === 'invalid') {
    warnings.push(`pod ${pod.namespace}/${pod.name}: annotation ${MTLS_MODE_ANNOTATION}=${JSON.stringify(own.raw)} is neither STRICT nor PERMISSIVE; using STRICT`);
    return DEFAULT_MTLS_MODE;
  }
  const namespace = parseMtlsMode(namespaceAnnotation);
  if (namespace.kind === 'valid') return namespace.mode;
  if (namespace.kind === 'invalid') {
    warnings.push(`namespace ${pod.namespace}: annotation ${MTLS_MODE_ANNOTATION}=${JSON.stringify(namespace.raw)} is neither STRICT nor PERMISSIVE; using STRICT`);
  }
  return DEFAULT_MTLS_MODE;
}
