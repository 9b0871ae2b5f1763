import { ANNOTATIONS, AnnotationError, INJECT_DISABLED, INJECT_LABEL, MESHED_LABEL, parsePodAnnotations, type PodAnnotationSettings } from './annotations.js';
import type { InjectContext } from './inject-context.js';
import { pointer, type JsonPatchOperation } from './json-patch.js';
import { readPod, readPodMetadata, type PodView } from './pod-shape.js';
import { rewriteProbes, type ProbeRewrite } from './probe-rewrite.js';
import { parseCpuQuantity, parseMemoryQuantity, type Quantity } from './resource-quantity.js';
import { INIT_CONTAINER_NAME, PROXY_CONTAINER_NAME, VOLUMES, initContainer, proxyContainer, sidecarVolumes, type ProxyResources } from './sidecar-containers.js';

export interface InjectResult {
  /** Empty when the pod is skipped. */
  readonly patch: JsonPatchOperation[];
  /** Why nothing was injected; absent when the patch injects. */
  readonly skippedReason?: string;
}

/** A pod the injector will not inject as asked (e.g. its own names are taken); the webhook denies it. */
export class PodRejectedError extends Error {
  override readonly name = 'PodRejectedError';
}

/**
 * The sidecar for one pod, as an RFC 6902 patch against the pod (or a pod template: the
 * paths only use metadata and spec). Pure: same pod and context, same patch.
 *
 * Idempotent: a pod that already has the proxy yields an empty patch, which makes the
 * webhook safe under reinvocationPolicy IfNeeded and `reseal inject` safe to run twice.
 *
 * Throws AnnotationError (invalid reseal.dev annotation), PodRejectedError (names taken)
 * or PodShapeError (not a pod).
 */
export function injectPod(pod: unknown, context: InjectContext): InjectResult {
  const meta = readPodMetadata(pod);
  const skip = skipReason(meta, context);
  if (skip) return { patch: [], skippedReason: skip };
  const view = readPod(pod);
  const taken = [...view.containers, ...(view.initContainers ?? [])].map((c) => c.name);
  if (taken.includes(PROXY_CONTAINER_NAME) || taken.includes(INIT_CONTAINER_NAME)) return { patch: [], skippedReason: 'already injected' };
  const ownVolumes = new Set<string>(Object.values(VOLUMES));
  const clash = (view.volumes ?? []).find((v) => typeof v.name === 'string' && ownVolumes.has(v.name));
  if (clash) throw new PodRejectedError(`volume name ${JSON.stringify(clash.name)} is reserved for the Reseal sidecar; rename the pod's volume`);

  const settings = parsePodAnnotations(view.annotations ?? {});
  const mode = settings.injectMode ?? 'full';
  const resources = proxyResources(settings, context);

  const rewrite: ProbeRewrite = { operations: [], appProbes: {} };
  rewriteProbes(view.containers, 'containers', rewrite);
  rewriteProbes(view.initContainers ?? [], 'initContainers', rewrite, (c) => c.restartPolicy === 'Always');

  const init = initContainer(
    context,
    { mode, skipInboundPorts: settings.skipInboundPorts, skipOutboundPorts: settings.skipOutboundPorts, skipOutboundCidrs: settings.skipOutboundCidrs },
    resources,
  );
  const proxy = proxyContainer(context, { mode, logLevel: settings.logLevel ?? context.defaults.logLevel, appProbes: rewrite.appProbes, resources });

  const patch: JsonPatchOperation[] = [...metadataOperations(view, context), ...rewrite.operations];
  // The API server refuses a projected token without a named account. The ServiceAccount
  // admission plugin names `default` before webhooks run; a template from `reseal inject`,
  // or a cluster without that plugin, needs it said explicitly.
  if (!view.serviceAccountName) patch.push({ op: 'add', path: '/spec/serviceAccountName', value: 'default' });
  // Probe rewrites address containers by index, so they go before anything is inserted.
  const initFirst = context.nativeSidecars ? [init, proxy] : [init];
  if (view.initContainers) {
    initFirst.forEach((container, i) => patch.push({ op: 'add', path: pointer('spec', 'initContainers', i), value: container }));
  } else {
    patch.push({ op: 'add', path: '/spec/initContainers', value: initFirst });
  }
  if (!context.nativeSidecars) patch.push({ op: 'add', path: '/spec/containers/0', value: proxy });
  const volumes = sidecarVolumes();
  if (view.volumes) volumes.forEach((volume) => patch.push({ op: 'add', path: '/spec/volumes/-', value: volume }));
  else patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  return { patch };
}

function skipReason(meta: ReturnType<typeof readPodMetadata>, context: InjectContext): string | undefined {
  if (context.namespace === context.meshNamespace) return `namespace ${context.meshNamespace} is the mesh's own`;
  if (context.namespaceLabels?.[INJECT_LABEL] === INJECT_DISABLED) return `namespace labelled ${INJECT_LABEL}=${INJECT_DISABLED}`;
  if (meta.labels?.[INJECT_LABEL] === INJECT_DISABLED) return `pod labelled ${INJECT_LABEL}=${INJECT_DISABLED}`;
  // The pod shares the node's network namespace: iptables there would capture the node.
  if (meta.hostNetwork) return 'hostNetwork pod';
  return undefined;
}

function metadataOperations(view: PodView, context: InjectContext): JsonPatchOperation[] {
  const annotations: Record<string, string> = { [ANNOTATIONS.injectedVersion]: context.version };
  if (context.trustRootHash !== undefined) annotations[ANNOTATIONS.trustRootHash] = context.trustRootHash;
  // In the fallback the proxy is containers[0], which kubectl logs/exec would otherwise pick.
  const defaultContainer = 'kubectl.kubernetes.io/default-container';
  if (!context.nativeSidecars && view.annotations?.[defaultContainer] === undefined) annotations[defaultContainer] = view.containers[0]?.name ?? '';
  const labels = { [MESHED_LABEL]: 'true' };
  if (!view.hasMetadata) return [{ op: 'add', path: '/metadata', value: { labels, annotations } }];
  return [...mapOperations('labels', view.labels, labels), ...mapOperations('annotations', view.annotations, annotations)];
}

function mapOperations(field: 'labels' | 'annotations', existing: Readonly<Record<string, string>> | undefined, entries: Record<string, string>): JsonPatchOperation[] {
  if (!existing) return [{ op: 'add', path: pointer('metadata', field), value: entries }];
  return Object.entries(entries).map(([key, value]) => ({ op: 'add', path: pointer('metadata', field, key), value }));
}

/** Requests and limits from the annotations over the defaults; a lone request above the default limit raises the limit. */
function proxyResources(settings: PodAnnotationSettings, context: InjectContext): ProxyResources {
  const d = context.defaults.resources;
  const cpu = pair(settings.proxyCpu, settings.proxyCpuLimit, parseCpuQuantity(d.cpuRequest), parseCpuQuantity(d.cpuLimit), ANNOTATIONS.proxyCpu, ANNOTATIONS.proxyCpuLimit);
  const memory = pair(
    settings.proxyMemory,
    settings.proxyMemoryLimit,
    parseMemoryQuantity(d.memoryRequest),
    parseMemoryQuantity(d.memoryLimit),
    ANNOTATIONS.proxyMemory,
    ANNOTATIONS.proxyMemoryLimit,
  );
  return { requests: { cpu: cpu.request.text, memory: memory.request.text }, limits: { cpu: cpu.limit.text, memory: memory.limit.text } };
}

function pair(
  request: Quantity | undefined,
  limit: Quantity | undefined,
  defaultRequest: Quantity,
  defaultLimit: Quantity,
  requestAnnotation: string,
  limitAnnotation: string,
): { request: Quantity; limit: Quantity } {
  if (request && limit) {
    if (request.value > limit.value) throw new AnnotationError(requestAnnotation, request.text, `exceeds ${limitAnnotation} (${limit.text})`);
    return { request, limit };
  }
  if (request) return { request, limit: request.value > defaultLimit.value ? request : defaultLimit };
  if (limit) return { request: defaultRequest.value > limit.value ? limit : defaultRequest, limit };
  return { request: defaultRequest, limit: defaultLimit };
}
