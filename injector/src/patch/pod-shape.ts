// The webhook receives the pod as untrusted JSON (the API server decodes it first, but the
// endpoint is reachable by anything that can dial it), and `reseal inject` reads whatever
// file it is given. These checks make every field the patch depends on the type it claims.

export type JsonObject = Record<string, unknown>;

export interface ContainerLike extends JsonObject {
  name: string;
}

export interface PodView {
  readonly labels: Readonly<Record<string, string>> | undefined;
  readonly annotations: Readonly<Record<string, string>> | undefined;
  readonly hasMetadata: boolean;
  readonly hostNetwork: boolean;
  readonly containers: readonly ContainerLike[];
  readonly initContainers: readonly ContainerLike[] | undefined;
  readonly volumes: readonly JsonObject[] | undefined;
  /** spec.serviceAccountName, or the deprecated spec.serviceAccount the API server copies into it. */
  readonly serviceAccountName: string | undefined;
}

/** A pod that is not shaped like a core/v1 Pod: a broken request, not a policy decision. */
export class PodShapeError extends Error {
  override readonly name = 'PodShapeError';
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new PodShapeError(`${where} must be a map of strings`);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw new PodShapeError(`${where}[${JSON.stringify(key)}] must be a string`);
  }
  return value as Record<string, string>;
}

function containerList(value: unknown, where: string): ContainerLike[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new PodShapeError(`${where} must be a list`);
  return value.map((container, i) => {
    if (!isObject(container) || typeof container.name !== 'string' || container.name === '') {
      throw new PodShapeError(`${where}[${i}] must be a container with a name`);
    }
    return container as ContainerLike;
  });
}

/** Only metadata: enough to decide a skip without judging a spec the pod may never need. */
export function readPodMetadata(pod: unknown): Pick<PodView, 'labels' | 'annotations' | 'hasMetadata' | 'hostNetwork'> {
  if (!isObject(pod)) throw new PodShapeError('the pod must be an object');
  if (pod.metadata !== undefined && pod.metadata !== null && !isObject(pod.metadata)) throw new PodShapeError('metadata must be an object');
  const metadata = isObject(pod.metadata) ? pod.metadata : undefined;
  if (!isObject(pod.spec)) throw new PodShapeError('spec must be an object');
  const hostNetwork = pod.spec.hostNetwork;
  if (hostNetwork !== undefined && hostNetwork !== null && typeof hostNetwork !== 'boolean') throw new PodShapeError('spec.hostNetwork must be a boolean');
  return {
    labels: stringMap(metadata?.labels, 'metadata.labels'),
    annotations: stringMap(metadata?.annotations, 'metadata.annotations'),
    hasMetadata: metadata !== undefined,
    hostNetwork: hostNetwork === true,
  };
}

export function readPod(pod: unknown): PodView {
  const meta = readPodMetadata(pod);
  const spec = (pod as { spec: JsonObject }).spec;
  const containers = containerList(spec.containers, 'spec.containers');
  if (!containers || containers.length === 0) throw new PodShapeError('spec.containers must list at least one container');
  const volumes = spec.volumes;
  if (volumes !== undefined && volumes !== null && (!Array.isArray(volumes) || !volumes.every(isObject))) throw new PodShapeError('spec.volumes must be a list of objects');
  return {
    ...meta,
    containers,
    initContainers: containerList(spec.initContainers, 'spec.initContainers'),
    volumes: Array.isArray(volumes) ? (volumes as JsonObject[]) : undefined,
    serviceAccountName: [spec.serviceAccountName, spec.serviceAccount].find((name): name is string => typeof name === 'string' && name !== ''),
  };
}
