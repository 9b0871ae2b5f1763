// Projected service-account tokens, requested and refreshed the way kubelet's token manager
// does: TokenRequest bound to the pod, renewed once 80% of its lifetime has passed (or 24 h).
import type { CoreV1Api, V1Pod, V1ServiceAccountTokenProjection } from '@kubernetes/client-node';

export const MIN_EXPIRATION_SECONDS = 600;
const DEFAULT_EXPIRATION_SECONDS = 3600;
const MAX_AGE_MS = 24 * 3600 * 1000;

export interface IssuedToken {
  token: string;
  issuedAt: number;
  expiresAt: number;
  refreshAt: number;
}

export function refreshTime(issuedAt: number, expiresAt: number): number {
  return Math.min(issuedAt + 0.8 * (expiresAt - issuedAt), issuedAt + MAX_AGE_MS);
}

export function tokenRequestBody(pod: V1Pod, source: V1ServiceAccountTokenProjection): Record<string, unknown> {
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      // empty: the API server's own audiences (its issuer), as kubelet does for no audience
      audiences: source.audience ? [source.audience] : [],
      expirationSeconds: Math.max(source.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS),
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata?.name, uid: pod.metadata?.uid },
    },
  };
}

export async function requestServiceAccountToken(core: CoreV1Api, pod: V1Pod, source: V1ServiceAccountTokenProjection): Promise<IssuedToken> {
  const issuedAt = Date.now();
  const response = await core.createNamespacedServiceAccountToken({
    name: pod.spec?.serviceAccountName || 'default',
    namespace: pod.metadata?.namespace ?? 'default',
    body: tokenRequestBody(pod, source) as never,
  });
  const token = response.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  const expiresAt = response.status?.expirationTimestamp ? new Date(response.status.expirationTimestamp).getTime() : issuedAt + DEFAULT_EXPIRATION_SECONDS * 1000;
  return { token, issuedAt, expiresAt, refreshAt: refreshTime(issuedAt, expiresAt) };
}
