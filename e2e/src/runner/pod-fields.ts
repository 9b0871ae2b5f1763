// The downward API: the pod fields a fieldRef may name, shared by env vars and volumes.
import type { V1Pod } from '@kubernetes/client-node';

export interface PodRuntimeFields {
  podIP?: string;
  hostIP?: string;
  nodeName?: string;
}

/** `key="value"` lines sorted by key, the kubelet's format for labels/annotations files. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((key) => `${key}=${JSON.stringify(map?.[key] ?? '')}`)
    .join('\n');
}

const SUBSCRIPT = /^metadata\.(labels|annotations)\['(.+)'\]$/;

export const SUPPORTED_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'metadata.labels',
  'metadata.annotations',
  "metadata.labels['<key>']",
  "metadata.annotations['<key>']",
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.podIP',
  'status.podIPs',
  'status.hostIP',
  'status.hostIPs',
];

export function isSupportedFieldPath(path: string): boolean {
  return SUPPORTED_FIELD_PATHS.includes(path) || SUBSCRIPT.test(path);
}

/** The value of a fieldRef, or undefined when the path is not one kubelet supports. */
export function podFieldValue(pod: V1Pod, path: string, runtime: PodRuntimeFields): string | undefined {
  const meta = pod.metadata ?? {};
  const subscript = SUBSCRIPT.exec(path);
  if (subscript) return meta[subscript[1] as 'labels' | 'annotations']?.[subscript[2] ?? ''] ?? '';
  switch (path) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'metadata.labels':
      return formatMap(meta.labels);
    case 'metadata.annotations':
      return formatMap(meta.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? runtime.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return runtime.podIP ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return runtime.hostIP ?? '';
    default:
      return undefined;
  }
}
