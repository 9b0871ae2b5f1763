// RFC 6902 JSON Patch, as the API server applies an admission webhook's answer. The
// injector only emits `add`; the applier also knows remove/replace/test so the CLI and the
// tests can apply any patch the same way the API server would.

export type JsonPatchOperation =
  | { readonly op: 'add' | 'replace' | 'test'; readonly path: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: string };

export class JsonPatchError extends Error {
  override readonly name = 'JsonPatchError';
}

/** RFC 6901: `~` and `/` inside a key (e.g. `reseal.dev/meshed`) become `~0` and `~1`. */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointer(...tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${escapePointerToken(String(t))}`).join('');
}

function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new JsonPatchError(`"${path}" is not a JSON pointer`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(token: string, length: number, forAdd: boolean, path: string): number {
  if (forAdd && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new JsonPatchError(`${path}: "${token}" is not an array index`);
  const index = Number(token);
  if (index > length || (!forAdd && index === length)) throw new JsonPatchError(`${path}: index ${index} is out of bounds`);
  return index;
}

function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  return typeof value === 'object' && value !== null;
}

/**
 * Applies the patch to a deep copy and returns it; the input is never modified. Any failing
 * operation fails the whole patch, as on the API server.
 */
export function applyJsonPatch<T>(document: T, patch: readonly JsonPatchOperation[]): T {
  let root: unknown = structuredClone(document);
  for (const operation of patch) {
    const tokens = parsePointer(operation.path);
    if (tokens.length === 0) {
      if (operation.op === 'remove') throw new JsonPatchError('cannot remove the whole document');
      if (operation.op === 'test') {
        if (!deepEqual(root, operation.value)) throw new JsonPatchError('test failed at the root');
        continue;
      }
      root = structuredClone(operation.value);
      continue;
    }
    let parent: unknown = root;
    for (const token of tokens.slice(0, -1)) {
      if (Array.isArray(parent)) parent = parent[arrayIndex(token, parent.length, false, operation.path)];
      else if (isContainer(parent) && Object.hasOwn(parent, token)) parent = (parent as Record<string, unknown>)[token];
      else throw new JsonPatchError(`${operation.path}: parent does not exist`);
    }
    const last = tokens[tokens.length - 1] as string;
    if (!isContainer(parent)) throw new JsonPatchError(`${operation.path}: parent is not an object or array`);
    const value = operation.op === 'remove' ? undefined : structuredClone(operation.value);
    if (Array.isArray(parent)) {
      const index = arrayIndex(last, parent.length, operation.op === 'add', operation.path);
      if (operation.op === 'add') parent.splice(index, 0, value);
      else if (operation.op === 'remove') parent.splice(index, 1);
      else if (operation.op === 'replace') parent[index] = value;
      else if (!deepEqual(parent[index], value)) throw new JsonPatchError(`${operation.path}: test failed`);
    } else {
      const exists = Object.hasOwn(parent, last);
      if (operation.op !== 'add' && !exists) throw new JsonPatchError(`${operation.path}: no such member`);
      if (operation.op === 'add' || operation.op === 'replace') parent[last] = value;
      else if (operation.op === 'remove') delete parent[last];
      else if (!deepEqual(parent[last], value)) throw new JsonPatchError(`${operation.path}: test failed`);
    }
  }
  return root as T;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!isContainer(a) || !isContainer(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
