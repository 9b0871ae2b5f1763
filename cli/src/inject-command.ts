import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_CONTROL_PLANE_ADDRESS, DEFAULT_MESH_NAMESPACE, makeInjectContext, trustRootHash, type InjectContext } from '@reseal/injector/patch';
import { Document, isMap, isNode, parseAllDocuments } from 'yaml';
import { injectManifestObject, ManifestInjectionError, type InjectionNote } from './pod-templates.js';

export const INJECT_USAGE = `usage: reseal inject -f <file|-> [flags]

Adds the Reseal sidecar to the pods of Pods, Deployments, StatefulSets, DaemonSets,
ReplicaSets, ReplicationControllers, Jobs, CronJobs, PodTemplates and Lists, exactly as the
admission webhook would. Other objects pass through unchanged. YAML in (multi-document),
YAML out; JSON in, JSON out. The result goes to stdout, a summary to stderr.

  -f, --filename FILE            manifest to read; - reads stdin
      --proxy-image IMAGE        sidecar image (default reseal/sidecar:<version>)
      --init-image IMAGE         image for reseal-init (default: the proxy image)
      --image-pull-policy POLICY Always, IfNotPresent (default) or Never
      --trust-domain DOMAIN      default cluster.local
      --control-plane-address HOST:PORT
                                 default ${DEFAULT_CONTROL_PLANE_ADDRESS}
      --namespace NAMESPACE      for objects that name none (default "default")
      --mesh-namespace NAMESPACE never injected (default ${DEFAULT_MESH_NAMESPACE})
      --trust-bundle FILE        record sha256 of this trust bundle as reseal.dev/trust-root-hash
      --trust-root-hash HEX      record this hash instead
      --native-sidecars BOOL     false: proxy as containers[0] with a postStart wait,
                                 for Kubernetes older than 1.29 (default true)
  -h, --help                     this text
`;

export interface CommandIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

class UsageError extends Error {}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function contextFactory(values: Record<string, string | boolean | undefined>, version: string): Promise<(namespace: string) => InjectContext> {
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  if (text('trust-bundle') && text('trust-root-hash')) throw new UsageError('--trust-bundle and --trust-root-hash cannot be combined');
  let hash = text('trust-root-hash')?.toLowerCase();
  const bundleFile = text('trust-bundle');
  if (bundleFile) hash = trustRootHash(await readFile(bundleFile));
  const native = text('native-sidecars') ?? 'true';
  if (native !== 'true' && native !== 'false') throw new UsageError(`--native-sidecars must be true or false, got "${native}"`);
  const pullPolicy = text('image-pull-policy') ?? 'IfNotPresent';
  if (pullPolicy !== 'Always' && pullPolicy !== 'IfNotPresent' && pullPolicy !== 'Never') throw new UsageError(`--image-pull-policy must be Always, IfNotPresent or Never, got "${pullPolicy}"`);
  const proxyImage = text('proxy-image') ?? `reseal/sidecar:${version}`;
  const base = (namespace: string): InjectContext =>
    makeInjectContext({
      namespace,
      meshNamespace: text('mesh-namespace') ?? DEFAULT_MESH_NAMESPACE,
      images: { proxy: proxyImage, init: text('init-image') ?? proxyImage },
      imagePullPolicy: pullPolicy,
      trustDomain: text('trust-domain') ?? 'cluster.local',
      controlPlaneAddress: text('control-plane-address') ?? DEFAULT_CONTROL_PLANE_ADDRESS,
      trustRootHash: hash,
      version,
      nativeSidecars: native === 'true',
    });
  try {
    base('default');
  } catch (error) {
    throw new UsageError((error as Error).message.replace('trustRootHash', '--trust-root-hash'));
  }
  return base;
}

/** JSON when the input starts like JSON; everything else is YAML (of which JSON is a subset anyway). */
function looksLikeJson(text: string): boolean {
  const first = /\S/.exec(text)?.[0];
  return first === '{' || first === '[';
}

function injectJson(text: string, inject: (object: unknown) => unknown): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the input is not valid JSON: ${(error as Error).message}`);
  }
  const result = Array.isArray(parsed) ? parsed.map(inject) : inject(parsed);
  return `${JSON.stringify(result, null, 2)}\n`;
}

// YAML 1.1 both ways, as Kubernetes reads manifests: a label value "yes" or "on" must come
// back quoted, or kubectl would read a boolean. Long lines are not folded (the probe JSON and
// the fallback's wait script are long and folding them helps nobody).
const YAML_OPTIONS = { version: '1.1', lineWidth: 0 } as const;

/** The comment heading a document, wherever the parser attached it (document, map, first key). */
function leadingComment(document: Document): string | undefined {
  if (document.commentBefore) return document.commentBefore;
  const contents = document.contents;
  if (isNode(contents) && contents.commentBefore) return contents.commentBefore;
  const firstKey = isMap(contents) ? contents.items[0]?.key : undefined;
  return isNode(firstKey) && firstKey.commentBefore ? firstKey.commentBefore : undefined;
}

function injectYaml(text: string, inject: (object: unknown) => unknown): string {
  const documents = parseAllDocuments(text, { version: '1.1' });
  if (!Array.isArray(documents)) return text;
  const out: string[] = [];
  for (const [index, document] of documents.entries()) {
    if (document.errors.length > 0) throw new UsageError(`YAML document ${index + 1}: ${document.errors[0]?.message ?? 'invalid'}`);
    const object: unknown = document.toJS();
    const injected = inject(object);
    if (injected === object) {
      out.push(document.toString(YAML_OPTIONS));
      continue;
    }
    // Shared objects (the sidecar's resources) are written out in full: anchors and aliases
    // are legal YAML but surprise whoever reads the manifest.
    const replacement = new Document(injected, { ...YAML_OPTIONS, aliasDuplicateObjects: false });
    const comment = leadingComment(document);
    if (comment) replacement.commentBefore = comment;
    out.push(replacement.toString(YAML_OPTIONS));
  }
  // Documents that were not rewritten keep their own `---` line; rewritten ones need one.
  const joined = out.map((doc, i) => (i === 0 || doc.startsWith('---') ? doc : `---\n${doc}`)).join('');
  return joined.endsWith('\n') ? joined : `${joined}\n`;
}

/** `reseal inject`; returns the exit code (0 ok, 1 an object could not be injected, 2 usage). */
export async function runInjectCommand(argv: readonly string[], io: CommandIo, version: string): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        filename: { type: 'string', short: 'f' },
        'proxy-image': { type: 'string' },
        'init-image': { type: 'string' },
        'image-pull-policy': { type: 'string' },
        'trust-domain': { type: 'string' },
        'control-plane-address': { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        'mesh-namespace': { type: 'string' },
        'trust-bundle': { type: 'string' },
        'trust-root-hash': { type: 'string' },
        'native-sidecars': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    io.stderr.write(`reseal inject: ${(error as Error).message.split('\n')[0]}\n\n${INJECT_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(INJECT_USAGE);
    return 0;
  }
  try {
    if (!values.filename) throw new UsageError('-f <file|-> is required');
    const contextFor = await contextFactory(values, version);
    const text = values.filename === '-' ? await readAll(io.stdin) : await readFile(values.filename, 'utf8').catch((error: unknown) => {
      throw new UsageError(`cannot read ${values.filename}: ${(error as Error).message}`);
    });
    const notes: InjectionNote[] = [];
    const inject = (object: unknown): unknown => injectManifestObject(object, contextFor, values.namespace ?? 'default', notes);
    const output = looksLikeJson(text) ? injectJson(text, inject) : injectYaml(text, inject);
    io.stdout.write(output);
    for (const note of notes) io.stderr.write(`${note.object}: ${note.outcome}${note.reason ? ` (${note.reason})` : ''}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`reseal inject: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ManifestInjectionError) {
      io.stderr.write(`reseal inject: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
