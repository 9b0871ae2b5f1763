// What the runner refuses and what it accepts without enforcing. A pod that needs something
// the runner cannot do must fail where the test author sees it, never run half-realised.
import type { V1Container, V1Pod, V1Probe, V1Volume } from '@kubernetes/client-node';
import { lookupImage, type ImageTable } from './image-table.js';
import { isSupportedFieldPath } from './pod-fields.js';

export const SUPPORTED_VOLUME_TYPES = ['emptyDir', 'configMap', 'secret', 'downwardAPI', 'projected'] as const;
/** Roots under which a missing mountPath may be created (they are private tmpfs in the container). */
export const CREATABLE_MOUNT_ROOTS = ['/run/', '/var/run/', '/tmp/'];

export interface FeatureContext {
  images: ImageTable;
  /** Whether a path exists on the host (whose root filesystem containers share). Omit to skip mountPath checks. */
  pathExists?: (path: string) => boolean;
}

type AnyContainer = V1Container & { restartPolicy?: string };

function present(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function volumeFeatures(volume: V1Volume, prefix: string): string[] {
  const out: string[] = [];
  for (const key of Object.keys(volume)) {
    if (key === 'name') continue;
    if (!(SUPPORTED_VOLUME_TYPES as readonly string[]).includes(key)) {
      if (present((volume as unknown as Record<string, unknown>)[key])) out.push(`${prefix}.${key}`);
    }
  }
  volume.downwardAPI?.items?.forEach((item, i) => {
    if (item.resourceFieldRef) out.push(`${prefix}.downwardAPI.items[${i}].resourceFieldRef`);
    if (item.fieldRef && !isSupportedFieldPath(item.fieldRef.fieldPath)) out.push(`${prefix}.downwardAPI.items[${i}].fieldRef(${item.fieldRef.fieldPath})`);
  });
  volume.projected?.sources?.forEach((source, i) => {
    for (const key of Object.keys(source)) {
      if (!['configMap', 'secret', 'downwardAPI', 'serviceAccountToken'].includes(key) && present((source as Record<string, unknown>)[key])) {
        out.push(`${prefix}.projected.sources[${i}].${key}`);
      }
    }
    source.downwardAPI?.items?.forEach((item, j) => {
      if (item.resourceFieldRef) out.push(`${prefix}.projected.sources[${i}].downwardAPI.items[${j}].resourceFieldRef`);
      if (item.fieldRef && !isSupportedFieldPath(item.fieldRef.fieldPath)) out.push(`${prefix}.projected.sources[${i}].downwardAPI.items[${j}].fieldRef(${item.fieldRef.fieldPath})`);
    });
  });
  return out;
}

function probeFeatures(probe: V1Probe | undefined, prefix: string): string[] {
  if (!probe) return [];
  const out: string[] = [];
  if (probe.terminationGracePeriodSeconds !== undefined) out.push(`${prefix}.terminationGracePeriodSeconds`);
  return out;
}

function containerFeatures(pod: V1Pod, container: AnyContainer, prefix: string, ctx: FeatureContext, initContainer: boolean): string[] {
  const out: string[] = [];
  const volumeNames = new Set((pod.spec?.volumes ?? []).map((v) => v.name));
  if (!lookupImage(ctx.images, container.image)) out.push(`${prefix}.image(${container.image ?? ''}: not in the runner's image table)`);
  if (container.restartPolicy !== undefined && !(initContainer && container.restartPolicy === 'Always')) out.push(`${prefix}.restartPolicy(${container.restartPolicy})`);
  if ((container as { restartPolicyRules?: unknown }).restartPolicyRules) out.push(`${prefix}.restartPolicyRules`);
  container.ports?.forEach((port, i) => {
    if (port.hostPort !== undefined && port.hostPort !== 0) out.push(`${prefix}.ports[${i}].hostPort`);
    if (port.hostIP) out.push(`${prefix}.ports[${i}].hostIP`);
  });
  container.env?.forEach((variable, i) => {
    if (variable.valueFrom?.resourceFieldRef) out.push(`${prefix}.env[${i}](${variable.name}).valueFrom.resourceFieldRef`);
    if (variable.valueFrom?.fileKeyRef !== undefined) out.push(`${prefix}.env[${i}](${variable.name}).valueFrom.fileKeyRef`);
    const path = variable.valueFrom?.fieldRef?.fieldPath;
    if (path !== undefined && !isSupportedFieldPath(path)) out.push(`${prefix}.env[${i}](${variable.name}).valueFrom.fieldRef(${path})`);
  });
  if (present(container.volumeDevices)) out.push(`${prefix}.volumeDevices`);
  container.volumeMounts?.forEach((mount, i) => {
    const at = `${prefix}.volumeMounts[${i}](${mount.mountPath})`;
    if (!volumeNames.has(mount.name)) out.push(`${at}.name(${mount.name}: no such volume)`);
    if (mount.subPathExpr) out.push(`${at}.subPathExpr`);
    if (mount.subPath && (mount.subPath.startsWith('/') || mount.subPath.split('/').includes('..'))) out.push(`${at}.subPath(${mount.subPath}: must be relative without ..)`);
    if (mount.mountPropagation && mount.mountPropagation !== 'None') out.push(`${at}.mountPropagation(${mount.mountPropagation})`);
    if (mount.recursiveReadOnly && mount.recursiveReadOnly !== 'Disabled') out.push(`${at}.recursiveReadOnly`);
    if (ctx.pathExists && !ctx.pathExists(mount.mountPath) && !CREATABLE_MOUNT_ROOTS.some((root) => mount.mountPath.startsWith(root))) {
      out.push(`${at}.mountPath(does not exist on the host and is outside ${CREATABLE_MOUNT_ROOTS.join(', ')})`);
    }
  });
  out.push(...probeFeatures(container.livenessProbe, `${prefix}.livenessProbe`));
  out.push(...probeFeatures(container.readinessProbe, `${prefix}.readinessProbe`));
  out.push(...probeFeatures(container.startupProbe, `${prefix}.startupProbe`));
  for (const hook of ['postStart', 'preStop'] as const) {
    const handler = container.lifecycle?.[hook];
    if (handler?.tcpSocket) out.push(`${prefix}.lifecycle.${hook}.tcpSocket`);
  }
  if (container.stdin) out.push(`${prefix}.stdin`);
  if (container.tty) out.push(`${prefix}.tty`);
  const sc = container.securityContext;
  if (sc?.procMount && sc.procMount !== 'Default') out.push(`${prefix}.securityContext.procMount`);
  if (sc?.windowsOptions) out.push(`${prefix}.securityContext.windowsOptions`);
  return out;
}

/** Names of the features of `pod` that the runner does not implement; empty when it can run it. */
export function unsupportedPodFeatures(pod: V1Pod, ctx: FeatureContext): string[] {
  const spec = pod.spec;
  if (!spec) return ['spec(missing)'];
  const out: string[] = [];
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC', 'shareProcessNamespace', 'ephemeralContainers', 'readinessGates', 'resourceClaims', 'runtimeClassName', 'os', 'hostname', 'subdomain', 'setHostnameAsFQDN', 'schedulingGates', 'hostnameOverride'] as const) {
    if (present((spec as unknown as Record<string, unknown>)[field])) out.push(`spec.${field}`);
  }
  if (spec.hostUsers === false) out.push('spec.hostUsers(false)');
  if (present(spec.securityContext?.sysctls)) out.push('spec.securityContext.sysctls');
  if (spec.securityContext?.windowsOptions) out.push('spec.securityContext.windowsOptions');
  if (spec.dnsConfig && (present(spec.dnsConfig.nameservers) || present(spec.dnsConfig.searches))) out.push('spec.dnsConfig');
  (spec.volumes ?? []).forEach((volume) => out.push(...volumeFeatures(volume, `volumes[${volume.name}]`)));
  (spec.initContainers ?? []).forEach((c) => out.push(...containerFeatures(pod, c, `initContainers[${c.name}]`, ctx, true)));
  (spec.containers ?? []).forEach((c) => out.push(...containerFeatures(pod, c, `containers[${c.name}]`, ctx, false)));
  return out;
}

/**
 * Features the runner accepts but does not enforce (logged once per pod): limits and security
 * hardening need cgroups/seccomp/LSMs that a netns-and-processes stand-in does not have, and
 * scheduling is moot with one node.
 */
export function acceptedButNotEnforced(pod: V1Pod): string[] {
  const spec = pod.spec;
  if (!spec) return [];
  const out: string[] = [];
  // (tolerations, priority and preemptionPolicy are not listed: admission sets them on every pod)
  for (const field of ['nodeSelector', 'affinity', 'topologySpreadConstraints', 'priorityClassName', 'overhead', 'activeDeadlineSeconds', 'resources'] as const) {
    if (present((spec as unknown as Record<string, unknown>)[field])) out.push(`spec.${field}`);
  }
  if (spec.securityContext?.seccompProfile) out.push('spec.securityContext.seccompProfile');
  if (spec.securityContext?.seLinuxOptions) out.push('spec.securityContext.seLinuxOptions');
  if (spec.securityContext?.appArmorProfile) out.push('spec.securityContext.appArmorProfile');
  const all: [string, AnyContainer][] = [
    ...(spec.initContainers ?? []).map((c): [string, AnyContainer] => [`initContainers[${c.name}]`, c]),
    ...(spec.containers ?? []).map((c): [string, AnyContainer] => [`containers[${c.name}]`, c]),
  ];
  for (const [prefix, c] of all) {
    if (present(c.resources?.limits) || present(c.resources?.requests)) out.push(`${prefix}.resources`);
    const sc = c.securityContext;
    if (sc?.readOnlyRootFilesystem) out.push(`${prefix}.securityContext.readOnlyRootFilesystem`);
    if (sc?.seccompProfile) out.push(`${prefix}.securityContext.seccompProfile`);
    if (sc?.seLinuxOptions) out.push(`${prefix}.securityContext.seLinuxOptions`);
    if (sc?.appArmorProfile) out.push(`${prefix}.securityContext.appArmorProfile`);
    if (present(sc?.capabilities?.drop)) out.push(`${prefix}.securityContext.capabilities.drop(root keeps all capabilities; non-root gets only 'add')`);
  }
  (spec.volumes ?? []).forEach((v) => {
    if (v.emptyDir?.sizeLimit) out.push(`volumes[${v.name}].emptyDir.sizeLimit`);
  });
  return out;
}
