export { injectPod, PodRejectedError } from './inject-pod.js';
export type { InjectResult } from './inject-pod.js';
export {
  ADMIN_PORT,
  DEFAULT_CONTROL_PLANE_ADDRESS,
  DEFAULT_INJECT_DEFAULTS,
  DEFAULT_MESH_NAMESPACE,
  INBOUND_PORT,
  OUTBOUND_PORT,
  PROXY_UID,
  makeInjectContext,
} from './inject-context.js';
export type { InjectContext, InjectContextInput, MeshInjectSettings, InjectDefaults, ProxyResourceDefaults } from './inject-context.js';
export { ANNOTATIONS, AnnotationError, INJECT_DISABLED, INJECT_ENABLED, INJECT_LABEL, LOG_LEVELS, MESHED_LABEL, parsePodAnnotations } from './annotations.js';
export type { InjectMode, LogLevel, PodAnnotationSettings } from './annotations.js';
export { applyJsonPatch, escapePointerToken, JsonPatchError, pointer } from './json-patch.js';
export type { JsonPatchOperation } from './json-patch.js';
export { PodShapeError } from './pod-shape.js';
export { appHealthPath } from './probe-rewrite.js';
export type { AppProbes, ProbeKind } from './probe-rewrite.js';
export { INIT_CONTAINER_NAME, PROXY_CONTAINER_NAME, TRUST_BUNDLE_CONFIGMAP, TRUST_BUNDLE_KEY, VOLUMES } from './sidecar-containers.js';
export { trustRootHash } from './trust-root-hash.js';
