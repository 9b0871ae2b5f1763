// Where each workload kind keeps the pod it creates, and the injection of those pods. Pure:
// objects in, objects out, so the command file only deals with files and formats.

import { applyJsonPatch, injectPod, type InjectContext } from '@reseal/injector/patch';

/** Kinds whose pod template sits at spec.template. */
const TEMPLATE_AT_SPEC = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'ReplicationController']);

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface InjectionNote {
  /** e.g. "Deployment shop/web". */
  readonly object: string;
  readonly outcome: 'injected' | 'skipped';
  readonly reason?: string;
}

export class ManifestInjectionError extends Error {
  override readonly name = 'ManifestInjectionError';
}

function describe(object: JsonObject, namespace: string): string {
  const metadata = isObject(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : typeof metadata.generateName === 'string' ? `${metadata.generateName}*` : '<unnamed>';
  return `${String(object.kind)} ${namespace}/${name}`;
}

/** The pod template's location inside an object of this kind, or undefined for kinds without pods. */
function templatePath(object: JsonObject): string[] | undefined {
  const kind = object.kind;
  if (kind === 'Pod') return [];
  if (typeof kind !== 'string') return undefined;
  if (TEMPLATE_AT_SPEC.has(kind)) return ['spec', 'template'];
  if (kind === 'CronJob') return ['spec', 'jobTemplate', 'spec', 'template'];
  if (kind === 'PodTemplate') return ['template'];
  return undefined;
}

function getIn(object: JsonObject, path: readonly string[]): unknown {
  return path.reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), object);
}

function setIn(object: JsonObject, path: readonly string[], value: unknown): JsonObject {
  if (path.length === 0) return value as JsonObject;
  const [head, ...rest] = path as [string, ...string[]];
  return { ...object, [head]: setIn(isObject(object[head]) ? object[head] : {}, rest, value) };
}

/**
 * The object with every pod it describes injected; Lists are walked. Objects of other kinds
 * come back as the same reference, so the caller can tell nothing changed.
 */
export function injectManifestObject(object: unknown, contextFor: (namespace: string) => InjectContext, defaultNamespace: string, notes: InjectionNote[]): unknown {
  if (!isObject(object)) return object;
  if (Array.isArray(object.items) && typeof object.kind === 'string' && object.kind.endsWith('List')) {
    const items = object.items.map((item) => injectManifestObject(item, contextFor, defaultNamespace, notes));
    return items.every((item, i) => item === (object.items as unknown[])[i]) ? object : { ...object, items };
  }
  const path = templatePath(object);
  if (!path) return object;
  const metadata = isObject(object.metadata) ? object.metadata : {};
  const namespace = typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : defaultNamespace;
  const what = describe(object, namespace);
  const template = getIn(object, path);
  if (!isObject(template)) throw new ManifestInjectionError(`${what}: no pod template at ${path.join('.') || 'the top level'}`);
  let result;
  try {
    result = injectPod(template, contextFor(namespace));
  } catch (error) {
    throw new ManifestInjectionError(`${what}: ${(error as Error).message}`);
  }
  if (result.patch.length === 0) {
    notes.push({ object: what, outcome: 'skipped', ...(result.skippedReason ? { reason: result.skippedReason } : {}) });
    return object;
  }
  notes.push({ object: what, outcome: 'injected' });
  return setIn(object, path, applyJsonPatch(template, result.patch));
}
