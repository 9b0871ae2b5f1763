// What each configMap/secret/downwardAPI/projected volume must contain, computed from the
// objects it references. Pure: the caller supplies the objects and the tokens.
import type { V1ConfigMap, V1KeyToPath, V1Pod, V1Secret, V1Volume } from '@kubernetes/client-node';
import { podFieldValue, type PodRuntimeFields } from './pod-fields.js';

export interface VolumeFile {
  data: Buffer;
  mode: number;
  /** Owner override (projected tokens are given to the pod's only runAsUser, as kubelet does). */
  uid?: number;
}

export type FileSet = Map<string, VolumeFile>;

export interface VolumeLookup extends PodRuntimeFields {
  configMap(name: string): V1ConfigMap | undefined;
  secret(name: string): V1Secret | undefined;
  /** The current token for projected source `sourceIndex` of `volume`, if fetched yet. */
  token(volume: string, sourceIndex: number): string | undefined;
}

export type VolumeContents = { ok: true; files: FileSet } | { ok: false; waitingFor: string[] };

const DEFAULT_MODE = 0o644;

function keyedFiles(
  kind: 'configmap' | 'secret',
  name: string,
  values: Map<string, Buffer> | undefined,
  items: V1KeyToPath[] | undefined,
  optional: boolean,
  mode: number,
  files: FileSet,
  waiting: string[],
): void {
  if (!values) {
    if (!optional) waiting.push(`${kind} "${name}" not found`);
    return;
  }
  if (!items || items.length === 0) {
    for (const [key, data] of values) files.set(key, { data, mode });
    return;
  }
  for (const item of items) {
    const data = values.get(item.key);
    if (!data) {
      if (!optional) waiting.push(`${kind} "${name}" has no key "${item.key}"`);
      continue;
    }
    files.set(item.path, { data, mode: item.mode ?? mode });
  }
}

function configMapValues(cm: V1ConfigMap | undefined): Map<string, Buffer> | undefined {
  if (!cm) return undefined;
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  return out;
}

function secretValues(secret: V1Secret | undefined): Map<string, Buffer> | undefined {
  if (!secret) return undefined;
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(secret.data ?? {})) out.set(k, Buffer.from(v, 'base64'));
  return out;
}

function downwardFiles(pod: V1Pod, items: { path: string; fieldRef?: { fieldPath: string }; mode?: number }[] | undefined, mode: number, lookup: VolumeLookup, files: FileSet): void {
  for (const item of items ?? []) {
    if (!item.fieldRef) continue; // resourceFieldRef is refused by unsupportedPodFeatures
    const value = podFieldValue(pod, item.fieldRef.fieldPath, lookup) ?? '';
    files.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? mode });
  }
}

/** The single runAsUser all containers share, if any (kubelet then owns token files to it, mode 0600). */
export function soleRunAsUser(pod: V1Pod): number | undefined {
  const uids = new Set<number>();
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    const uid = c.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
    if (uid === undefined) return undefined;
    uids.add(uid);
  }
  return uids.size === 1 ? [...uids][0] : undefined;
}

/** Contents of a volume, or what it is still waiting for. emptyDir has no contents (ok, empty). */
export function volumeContents(pod: V1Pod, volume: V1Volume, lookup: VolumeLookup): VolumeContents {
  const files: FileSet = new Map();
  const waiting: string[] = [];
  if (volume.configMap) {
    const src = volume.configMap;
    keyedFiles('configmap', src.name ?? '', configMapValues(lookup.configMap(src.name ?? '')), src.items, src.optional ?? false, src.defaultMode ?? DEFAULT_MODE, files, waiting);
  } else if (volume.secret) {
    const src = volume.secret;
    keyedFiles('secret', src.secretName ?? '', secretValues(lookup.secret(src.secretName ?? '')), src.items, src.optional ?? false, src.defaultMode ?? DEFAULT_MODE, files, waiting);
  } else if (volume.downwardAPI) {
    downwardFiles(pod, volume.downwardAPI.items, volume.downwardAPI.defaultMode ?? DEFAULT_MODE, lookup, files);
  } else if (volume.projected) {
    const mode = volume.projected.defaultMode ?? DEFAULT_MODE;
    volume.projected.sources?.forEach((source, index) => {
      if (source.configMap) {
        const src = source.configMap;
        keyedFiles('configmap', src.name ?? '', configMapValues(lookup.configMap(src.name ?? '')), src.items, src.optional ?? false, mode, files, waiting);
      } else if (source.secret) {
        const src = source.secret;
        keyedFiles('secret', src.name ?? '', secretValues(lookup.secret(src.name ?? '')), src.items, src.optional ?? false, mode, files, waiting);
      } else if (source.downwardAPI) {
        downwardFiles(pod, source.downwardAPI.items, mode, lookup, files);
      } else if (source.serviceAccountToken) {
        const token = lookup.token(volume.name, index);
        if (token === undefined) {
          waiting.push(`service account token for ${volume.name}/${source.serviceAccountToken.path}`);
          return;
        }
        const owner = soleRunAsUser(pod);
        files.set(source.serviceAccountToken.path, owner === undefined ? { data: Buffer.from(token), mode } : { data: Buffer.from(token), mode: 0o600, uid: owner });
      }
    });
  }
  return waiting.length > 0 ? { ok: false, waitingFor: waiting } : { ok: true, files };
}
