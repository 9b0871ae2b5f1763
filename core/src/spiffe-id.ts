// SPIFFE IDs as Reseal uses them: spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>.
// Parsing follows the SPIFFE-ID standard (lower-case trust domain, no port/userinfo/query/
// fragment, no empty, "." or ".." path segments) so that IDs from certificates, CRDs and
// CSRs compare byte for byte.

export interface SpiffeId {
  readonly trustDomain: string;
  readonly path: string;
}

export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

export class InvalidSpiffeIdError extends Error {
  override readonly name = 'InvalidSpiffeIdError';
}

const SCHEME = 'spiffe://';
const MAX_LENGTH = 2048;
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const PATH_SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;
// Kubernetes names: DNS-1123 labels (namespaces) and subdomains (service accounts).
const K8S_NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const K8S_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const SERVICE_ACCOUNT_USERNAME_PREFIX = 'system:serviceaccount:';

export function parseSpiffeId(input: string): SpiffeId {
  if (typeof input !== 'string' || input.length === 0) throw new InvalidSpiffeIdError('SPIFFE ID is empty');
  if (input.length > MAX_LENGTH) throw new InvalidSpiffeIdError(`SPIFFE ID is longer than ${MAX_LENGTH} bytes`);
  if (!input.startsWith(SCHEME)) throw new InvalidSpiffeIdError(`SPIFFE ID must start with ${SCHEME}: ${JSON.stringify(input)}`);
  const rest = input.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  validateTrustDomain(trustDomain);
  if (path !== '') {
    for (const segment of path.slice(1).split('/')) {
      if (segment === '') throw new InvalidSpiffeIdError(`SPIFFE ID path has an empty segment: ${JSON.stringify(input)}`);
      if (segment === '.' || segment === '..') throw new InvalidSpiffeIdError(`SPIFFE ID path has a relative segment: ${JSON.stringify(input)}`);
      if (!PATH_SEGMENT_CHARS.test(segment)) throw new InvalidSpiffeIdError(`SPIFFE ID path segment has characters outside [A-Za-z0-9._-]: ${JSON.stringify(input)}`);
    }
  }
  return { trustDomain, path };
}

export function validateTrustDomain(trustDomain: string): void {
  if (trustDomain.length === 0) throw new InvalidSpiffeIdError('trust domain is empty');
  if (trustDomain.length > 255) throw new InvalidSpiffeIdError('trust domain is longer than 255 bytes');
  if (!TRUST_DOMAIN_CHARS.test(trustDomain)) {
    throw new InvalidSpiffeIdError(`trust domain must be lower-case letters, digits, ".", "-" or "_": ${JSON.stringify(trustDomain)}`);
  }
}

export function workloadSpiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  validateTrustDomain(trustDomain);
  if (!K8S_NAMESPACE.test(namespace)) throw new InvalidSpiffeIdError(`not a Kubernetes namespace name: ${JSON.stringify(namespace)}`);
  if (!K8S_SUBDOMAIN.test(serviceAccount)) throw new InvalidSpiffeIdError(`not a Kubernetes service account name: ${JSON.stringify(serviceAccount)}`);
  return `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** Reads a Reseal workload ID back into its parts; null when the ID is not of that shape. */
export function parseWorkloadSpiffeId(id: string): WorkloadIdentity | null {
  let parsed: SpiffeId;
  try {
    parsed = parseSpiffeId(id);
  } catch {
    return null;
  }
  const m = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(parsed.path);
  if (!m || !K8S_NAMESPACE.test(m[1]!) || !K8S_SUBDOMAIN.test(m[2]!)) return null;
  return { trustDomain: parsed.trustDomain, namespace: m[1]!, serviceAccount: m[2]! };
}

/**
 * The identity of a TokenReview's user. Only `system:serviceaccount:<ns>:<sa>` maps to a
 * workload; any other authenticated user (a person, a node) gets no mesh identity.
 */
export function serviceAccountFromUsername(username: string): { namespace: string; serviceAccount: string } | null {
  if (!username.startsWith(SERVICE_ACCOUNT_USERNAME_PREFIX)) return null;
  const parts = username.slice(SERVICE_ACCOUNT_USERNAME_PREFIX.length).split(':');
  if (parts.length !== 2) return null;
  const [namespace, serviceAccount] = parts as [string, string];
  if (!K8S_NAMESPACE.test(namespace) || !K8S_SUBDOMAIN.test(serviceAccount)) return null;
  return { namespace, serviceAccount };
}
