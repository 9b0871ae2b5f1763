import type { LogLevel } from './annotations.js';
import { parseCpuQuantity, parseMemoryQuantity } from './resource-quantity.js';

/** The ports and UID of ARCHITECTURE.md "Sidecar ports and conventions". */
export const PROXY_UID = 1337;
export const INBOUND_PORT = 15006;
export const OUTBOUND_PORT = 15001;
export const ADMIN_PORT = 15020;

export const DEFAULT_MESH_NAMESPACE = 'reseal-system';
export const DEFAULT_CONTROL_PLANE_ADDRESS = 'reseal-control-plane.reseal-system.svc:15012';

export interface ProxyResourceDefaults {
  readonly cpuRequest: string;
  readonly memoryRequest: string;
  readonly cpuLimit: string;
  readonly memoryLimit: string;
}

/** What a pod gets when its annotations do not say otherwise. */
export interface InjectDefaults {
  readonly resources: ProxyResourceDefaults;
  readonly logLevel: LogLevel;
  readonly certTtlSeconds: number;
  readonly drainSeconds: number;
  /** How long the proxy may take to become ready (certificate from the control plane) before kubelet restarts it. */
  readonly startupSeconds: number;
}

export const DEFAULT_INJECT_DEFAULTS: InjectDefaults = Object.freeze({
  resources: Object.freeze({ cpuRequest: '50m', memoryRequest: '64Mi', cpuLimit: '1', memoryLimit: '256Mi' }),
  logLevel: 'info',
  certTtlSeconds: 3600,
  drainSeconds: 20,
  startupSeconds: 120,
});

/** Everything about the mesh and the request that a pod's injection depends on besides the pod. */
export interface InjectContext {
  /** The namespace the pod is created in (AdmissionRequest.namespace; the pod's own field may be empty). */
  readonly namespace: string;
  /** The namespace's labels when known; the webhook's namespaceSelector has already checked the opt-in. */
  readonly namespaceLabels?: Readonly<Record<string, string>>;
  /** Pods of the mesh's own namespace are never injected: the control plane must not depend on itself. */
  readonly meshNamespace: string;
  /** The sidecar image runs both `reseal-proxy` and `reseal-init`; they may still be pinned separately. */
  readonly images: { readonly proxy: string; readonly init: string };
  readonly imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  readonly trustDomain: string;
  readonly controlPlaneAddress: string;
  /** sha256 (hex) of the trust bundle; recorded on the pod so stale-root pods can be found. Unknown: not recorded. */
  readonly trustRootHash: string | undefined;
  /** The Reseal version doing the injection, recorded on the pod. */
  readonly version: string;
  /** Kubernetes >= 1.29: the proxy is a native sidecar; older clusters get the containers[0] fallback. */
  readonly nativeSidecars: boolean;
  readonly defaults: InjectDefaults;
}

/** The per-mesh part of the context, fixed at start-up; the webhook adds each request's namespace. */
export type MeshInjectSettings = Omit<InjectContext, 'namespace' | 'namespaceLabels'>;

export type InjectContextInput = Pick<InjectContext, 'namespace' | 'images' | 'version'> & Partial<Omit<InjectContext, 'defaults'>> & { defaults?: Partial<InjectDefaults> };

/** Fills the optional fields and checks the defaults once, so injectPod never meets a bad default. */
export function makeInjectContext(input: InjectContextInput): InjectContext {
  const defaults: InjectDefaults = {
    ...DEFAULT_INJECT_DEFAULTS,
    ...input.defaults,
    resources: { ...DEFAULT_INJECT_DEFAULTS.resources, ...input.defaults?.resources },
  };
  parseCpuQuantity(defaults.resources.cpuRequest);
  parseCpuQuantity(defaults.resources.cpuLimit);
  parseMemoryQuantity(defaults.resources.memoryRequest);
  parseMemoryQuantity(defaults.resources.memoryLimit);
  if (!input.images.proxy || !input.images.init) throw new TypeError('images.proxy and images.init are required');
  if (input.trustRootHash !== undefined && !/^[0-9a-f]{64}$/.test(input.trustRootHash)) throw new TypeError('trustRootHash must be a lower-case hex sha256');
  return {
    namespace: input.namespace,
    ...(input.namespaceLabels ? { namespaceLabels: input.namespaceLabels } : {}),
    meshNamespace: input.meshNamespace ?? DEFAULT_MESH_NAMESPACE,
    images: input.images,
    imagePullPolicy: input.imagePullPolicy ?? 'IfNotPresent',
    trustDomain: input.trustDomain ?? 'cluster.local',
    controlPlaneAddress: input.controlPlaneAddress ?? DEFAULT_CONTROL_PLANE_ADDRESS,
    trustRootHash: input.trustRootHash,
    version: input.version,
    nativeSidecars: input.nativeSidecars ?? true,
    defaults,
  };
}
