import type { AuthenticatedCaller } from '../identity/caller.js';
import type { PodRecord } from './mesh-records.js';

export type WatchDecision = { allowed: true } | { allowed: false; reason: 'pod_unknown' | 'service_account_mismatch' | 'token_bound_to_other_pod'; message: string };

/**
 * A sidecar may watch as its own pod only: the pod must run as the caller's ServiceAccount,
 * and a pod-bound token must name that pod. The policy streamed back is the pod's, so a
 * workload that could watch as another pod would learn who may call that pod.
 */
export function authorizeWatch(caller: AuthenticatedCaller, requested: string, pod: PodRecord | undefined): WatchDecision {
  // The same message whether the pod is missing or someone else's, so a caller cannot probe
  // for pods in namespaces it does not belong to.
  const refusal = `pod ${requested} is unknown or does not run as ServiceAccount ${caller.namespace}/${caller.serviceAccount}`;
  if (!pod) return { allowed: false, reason: 'pod_unknown', message: refusal };
  if (pod.namespace !== caller.namespace || pod.serviceAccount !== caller.serviceAccount) {
    return { allowed: false, reason: 'service_account_mismatch', message: refusal };
  }
  if (caller.podName !== undefined && caller.podName !== pod.name) {
    return { allowed: false, reason: 'token_bound_to_other_pod', message: `the token is bound to pod ${caller.namespace}/${caller.podName}, not to ${pod.namespace}/${pod.name}` };
  }
  return { allowed: true };
}
