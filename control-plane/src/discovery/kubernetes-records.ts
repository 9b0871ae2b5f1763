import type { V1EndpointSlice, V1Namespace, V1Pod, V1Service } from '@kubernetes/client-node';
import { MTLS_MODE_ANNOTATION } from '../policy/mtls-mode.js';
import type { EndpointSliceRecord, NamespaceRecord, PodRecord, ServiceRecord } from './mesh-records.js';

/**
 * The mark of a pod that runs a Reseal sidecar, set by the injector (webhook and `reseal
 * inject`). A label rather than an annotation so that `kubectl get pods -l` finds them.
 */
export const MESHED_LABEL = 'reseal.dev/meshed';
export const MESHED_LABEL_VALUE = 'true';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function podRecordOf(pod: V1Pod): PodRecord | undefined {
  const namespace = pod.metadata?.namespace;
  const name = pod.metadata?.name;
  if (!namespace || !name) return undefined;
  const labels = pod.metadata?.labels ?? {};
  const ips = pod.spec?.hostNetwork
    ? []
    : unique([...(pod.status?.podIPs ?? []).map((entry) => entry.ip), pod.status?.podIP].filter((ip): ip is string => !!ip));
  const phase = pod.status?.phase;
  return {
    namespace,
    name,
    uid: pod.metadata?.uid,
    ips,
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    meshed: labels[MESHED_LABEL] === MESHED_LABEL_VALUE,
    labels,
    mtlsModeAnnotation: pod.metadata?.annotations?.[MTLS_MODE_ANNOTATION],
    workload: workloadOf(pod),
    terminated: phase === 'Succeeded' || phase === 'Failed',
    createdAt: pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : 0,
  };
}

export function serviceRecordOf(service: V1Service): ServiceRecord | undefined {
  const namespace = service.metadata?.namespace;
  const name = service.metadata?.name;
  if (!namespace || !name || service.spec?.type === 'ExternalName') return undefined;
  const clusterIps = unique([...(service.spec?.clusterIPs ?? []), service.spec?.clusterIP ?? ''].filter((ip) => ip && ip !== 'None'));
  const ports = (service.spec?.ports ?? []).map((port) => ({ name: port.name ?? '', port: port.port, protocol: port.protocol ?? 'TCP' }));
  return { namespace, name, clusterIps, ports };
}

export function endpointSliceRecordOf(slice: V1EndpointSlice): EndpointSliceRecord | undefined {
  const namespace = slice.metadata?.namespace;
  const name = slice.metadata?.name;
  const serviceName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!namespace || !name || !serviceName || slice.addressType === 'FQDN') return undefined;
  const ports = (slice.ports ?? [])
    .filter((port) => typeof port.port === 'number')
    .map((port) => ({ name: port.name ?? '', port: port.port!, protocol: port.protocol ?? 'TCP' }));
  // The API says an unknown readiness is to be read as ready.
  const endpoints = (slice.endpoints ?? []).map((endpoint) => ({ addresses: endpoint.addresses, ready: endpoint.conditions?.ready !== false }));
  return { namespace, name, serviceName, ports, endpoints };
}

export function namespaceRecordOf(namespace: V1Namespace): NamespaceRecord | undefined {
  const name = namespace.metadata?.name;
  if (!name) return undefined;
  return { name, mtlsModeAnnotation: namespace.metadata?.annotations?.[MTLS_MODE_ANNOTATION] };
}

/** For telemetry: the app's name label, else the owning controller (a ReplicaSet without its hash), else the pod. */
function workloadOf(pod: V1Pod): string {
  const labels = pod.metadata?.labels ?? {};
  const named = labels['app.kubernetes.io/name'] ?? labels['app'];
  if (named) return named;
  const owner = pod.metadata?.ownerReferences?.find((ref) => ref.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (owner) {
    const hash = labels['pod-template-hash'];
    return owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`) ? owner.name.slice(0, -hash.length - 1) : owner.name;
  }
  return pod.metadata?.name ?? '';
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
