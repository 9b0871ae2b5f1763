import { isValidIdentityPattern } from './identity-pattern.js';
import { parseLabelSelector, type Labels } from './label-selector.js';

export const ACCESS_POLICY_GROUP = 'reseal.dev';
export const ACCESS_POLICY_VERSION = 'v1alpha1';
export const ACCESS_POLICY_PLURAL = 'accesspolicies';
export const ACCESS_POLICY_KIND = 'AccessPolicy';

/**
 * An AccessPolicy checked once, when it changes. A policy that cannot be read is never
 * dropped: it still selects pods (all of its namespace when the selector itself is broken)
 * and allows nobody, so a typo closes access instead of opening it.
 */
export interface AccessPolicyRecord {
  readonly namespace: string;
  readonly name: string;
  readonly selects: (labels: Labels) => boolean;
  /** 'all' when spec.ports is empty or absent. */
  readonly ports: readonly number[] | 'all';
  /** Only the well-formed entries. */
  readonly allowedIdentities: readonly string[];
  /** Why parts of the policy were ignored; empty for a clean policy. */
  readonly problems: readonly string[];
}

/** The spec as written in YAML (the CRD) or in a standalone topology file. */
export interface AccessPolicySpec {
  podSelector?: unknown;
  ports?: unknown;
  allowedIdentities?: unknown;
}

export function accessPolicyRecord(namespace: string, name: string, spec: AccessPolicySpec | undefined | null): AccessPolicyRecord {
  const problems: string[] = [];
  if (!spec || typeof spec !== 'object') {
    return { namespace, name, selects: () => true, ports: [], allowedIdentities: [], problems: ['spec is missing'] };
  }
  const selector = parseLabelSelector(spec.podSelector);
  let selects: (labels: Labels) => boolean;
  let broken = false;
  if (selector.ok) {
    selects = selector.matches;
  } else {
    selects = () => true;
    broken = true;
    problems.push(`podSelector: ${selector.error}; the policy selects every pod of its namespace and allows nobody`);
  }

  let ports: readonly number[] | 'all' = 'all';
  if (spec.ports !== undefined && spec.ports !== null) {
    if (!Array.isArray(spec.ports)) {
      broken = true;
      problems.push('ports is not a list; the policy allows nobody');
    } else if (spec.ports.length > 0) {
      const bad = spec.ports.filter((p) => !Number.isInteger(p) || (p as number) < 1 || (p as number) > 65535);
      if (bad.length > 0) {
        // Dropping only the bad ports could leave an empty list, which means "all ports".
        broken = true;
        problems.push(`ports ${JSON.stringify(bad)} are not in 1..65535; the policy allows nobody`);
      } else {
        ports = [...new Set(spec.ports as number[])].sort((a, b) => a - b);
      }
    }
  }

  const allowedIdentities: string[] = [];
  if (!Array.isArray(spec.allowedIdentities)) {
    problems.push('allowedIdentities is not a list; the policy allows nobody');
  } else {
    for (const id of spec.allowedIdentities) {
      if (isValidIdentityPattern(id)) allowedIdentities.push(id);
      else problems.push(`allowedIdentities entry ${JSON.stringify(id)} is not a SPIFFE ID or prefix pattern; ignored`);
    }
  }
  return { namespace, name, selects, ports: broken ? [] : ports, allowedIdentities: broken ? [] : allowedIdentities, problems };
}

/** From an object as the API server returns it (CustomObjectsApi gives untyped JSON). */
export function accessPolicyRecordFromObject(object: unknown): AccessPolicyRecord | undefined {
  const metadata = (object as { metadata?: { namespace?: unknown; name?: unknown } } | null)?.metadata;
  if (typeof metadata?.namespace !== 'string' || typeof metadata.name !== 'string') return undefined;
  return accessPolicyRecord(metadata.namespace, metadata.name, (object as { spec?: AccessPolicySpec }).spec);
}
