// The app containers' original Kubernetes probes, as the injector hands them over before it
// points kubelet at /app-health/<container>/<probe>. The shapes are the core/v1 Probe JSON,
// with named ports already resolved to numbers.

export const PROBE_KINDS = ['liveness', 'readiness', 'startup'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

export interface HttpHeader {
  readonly name: string;
  readonly value: string;
}

export interface HttpGetAction {
  readonly path?: string;
  readonly port: number;
  readonly scheme?: 'HTTP' | 'HTTPS';
  readonly httpHeaders?: readonly HttpHeader[];
}

export interface TcpSocketAction {
  readonly port: number;
}

export interface GrpcAction {
  readonly port: number;
  readonly service?: string;
}

export interface AppProbe {
  readonly httpGet?: HttpGetAction;
  readonly tcpSocket?: TcpSocketAction;
  readonly grpc?: GrpcAction;
  /** Kept only to say clearly that exec probes are not run here (the injector leaves them alone). */
  readonly exec?: { readonly command?: readonly string[] };
  readonly timeoutSeconds?: number;
}

export type ContainerProbes = Readonly<Partial<Record<ProbeKind, AppProbe>>>;
export type AppProbes = Readonly<Record<string, ContainerProbes>>;

export class AppProbeConfigError extends Error {
  override readonly name = 'AppProbeConfigError';
}

/**
 * Validates the probe configuration (a JSON string or the parsed object) once at start-up, so
 * that a malformed entry is reported by name instead of failing a kubelet probe later.
 * Fields kubelet does not use for the check itself (periods, thresholds) are dropped.
 */
export function parseAppProbes(input: unknown): AppProbes {
  let value = input;
  if (typeof input === 'string') {
    if (input.trim() === '') return {};
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new AppProbeConfigError(`app probes: not JSON: ${(error as Error).message}`);
    }
  }
  if (!isObject(value)) throw new AppProbeConfigError('app probes: expected an object {"<container>": {"liveness"?, "readiness"?, "startup"?}}');
  const result: Record<string, ContainerProbes> = {};
  for (const [container, probes] of Object.entries(value)) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(container)) throw new AppProbeConfigError(`app probes: ${JSON.stringify(container)} is not a container name`);
    if (!isObject(probes)) throw new AppProbeConfigError(`app probes: ${container}: expected an object of probes`);
    const parsed: Partial<Record<ProbeKind, AppProbe>> = {};
    for (const [kind, probe] of Object.entries(probes)) {
      if (!(PROBE_KINDS as readonly string[]).includes(kind)) {
        throw new AppProbeConfigError(`app probes: ${container}: unknown probe ${JSON.stringify(kind)} (expected ${PROBE_KINDS.join(', ')})`);
      }
      if (probe === null || probe === undefined) continue;
      parsed[kind as ProbeKind] = parseProbe(probe, `${container}/${kind}`);
    }
    result[container] = parsed;
  }
  return result;
}

function parseProbe(probe: unknown, where: string): AppProbe {
  if (!isObject(probe)) throw new AppProbeConfigError(`app probes: ${where}: expected a Probe object`);
  const handlers = ['httpGet', 'tcpSocket', 'grpc', 'exec'].filter((h) => probe[h] !== undefined && probe[h] !== null);
  if (handlers.length !== 1) throw new AppProbeConfigError(`app probes: ${where}: a probe has exactly one of httpGet, tcpSocket, grpc or exec (found ${handlers.length})`);
  const timeoutSeconds = optionalPositiveInteger(probe.timeoutSeconds, `${where}: timeoutSeconds`);
  const base = timeoutSeconds === undefined ? {} : { timeoutSeconds };
  if (isObject(probe.httpGet)) {
    const h = probe.httpGet;
    const path = h.path === undefined || h.path === '' ? '/' : h.path;
    if (typeof path !== 'string' || /[\s\0]/.test(path)) throw new AppProbeConfigError(`app probes: ${where}: httpGet.path must be a string without whitespace`);
    const scheme = h.scheme === undefined ? 'HTTP' : typeof h.scheme === 'string' ? h.scheme.toUpperCase() : h.scheme;
    if (scheme !== 'HTTP' && scheme !== 'HTTPS') throw new AppProbeConfigError(`app probes: ${where}: httpGet.scheme must be HTTP or HTTPS`);
    let httpHeaders: HttpHeader[] = [];
    if (h.httpHeaders !== undefined && h.httpHeaders !== null) {
      if (!Array.isArray(h.httpHeaders)) throw new AppProbeConfigError(`app probes: ${where}: httpGet.httpHeaders must be a list`);
      httpHeaders = h.httpHeaders.map((header: unknown, i: number) => {
        if (!isObject(header) || typeof header.name !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header.name) || typeof header.value !== 'string' || /[\r\n\0]/.test(header.value)) {
          throw new AppProbeConfigError(`app probes: ${where}: httpGet.httpHeaders[${i}] must be {name, value} with a valid header name and value`);
        }
        return { name: header.name, value: header.value };
      });
    }
    return { ...base, httpGet: { path: path.startsWith('/') ? path : `/${path}`, port: port(h.port, `${where}: httpGet.port`), scheme, httpHeaders } };
  }
  if (isObject(probe.tcpSocket)) return { ...base, tcpSocket: { port: port(probe.tcpSocket.port, `${where}: tcpSocket.port`) } };
  if (isObject(probe.grpc)) {
    const service = probe.grpc.service ?? '';
    if (typeof service !== 'string') throw new AppProbeConfigError(`app probes: ${where}: grpc.service must be a string`);
    return { ...base, grpc: { port: port(probe.grpc.port, `${where}: grpc.port`), service } };
  }
  if (isObject(probe.exec)) {
    const command = Array.isArray(probe.exec.command) ? probe.exec.command.filter((c): c is string => typeof c === 'string') : [];
    return { ...base, exec: { command } };
  }
  throw new AppProbeConfigError(`app probes: ${where}: the probe handler must be an object`);
}

function port(value: unknown, where: string): number {
  // IntOrString: a numeric string is a number; a name should have been resolved by the injector.
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new AppProbeConfigError(`app probes: ${where} must be a port number 1-65535 (named ports are resolved by the injector), got ${JSON.stringify(value)}`);
  }
  return n;
}

function optionalPositiveInteger(value: unknown, where: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new AppProbeConfigError(`app probes: ${where} must be a positive integer`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
