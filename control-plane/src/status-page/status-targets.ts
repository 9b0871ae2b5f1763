// What the status page polls besides its own state: the sidecars' admin ports (their
// /metrics counters and /debug/identity) and the entry points where clients come in.
import { readFileSync } from 'node:fs';

export interface SidecarTarget {
  /** "namespace/name" of a pod of the topology. */
  readonly pod: string;
  /** The sidecar's admin server, e.g. http://127.0.0.1:15020. */
  readonly adminUrl: string;
}

export interface EntrypointTarget {
  /** Shown on the page, e.g. "edge (nginx)". */
  readonly name: string;
  /** "namespace/name" of the pod whose app terminates the clients' TLS. */
  readonly pod: string;
  /** https://host:port the status page handshakes with, as a client would. */
  readonly url: string;
  /** The server name to send and verify; default the URL's host. */
  readonly serverName?: string;
  /** PEM roots the entry point's certificate must chain to; default the system's. */
  readonly caFile?: string;
  /** A plain-HTTP status URL in nginx stub_status format, whose "requests" counter gives the request rate. */
  readonly statusUrl?: string;
}

export interface StatusTargets {
  readonly sidecars: readonly SidecarTarget[];
  readonly entrypoints: readonly EntrypointTarget[];
}

export class StatusTargetsError extends Error {
  override readonly name = 'StatusTargetsError';
}

/**
 * `{"sidecars":[{"pod":"shop/web-0","adminUrl":"http://127.0.0.1:15020"}],
 *   "entrypoints":[{"name":"edge","pod":"edge/gateway-0","url":"https://127.0.0.1:8443","serverName":"localhost","caFile":"/path/ca.pem","statusUrl":"http://127.0.0.1:8080/status"}]}`
 * Both lists are optional.
 */
export function parseStatusTargets(input: unknown): StatusTargets {
  const root = object(input, 'targets');
  const sidecars = list(root['sidecars'], 'sidecars').map((raw, i) => {
    const at = `sidecars[${i}]`;
    const entry = object(raw, at);
    return { pod: podRef(entry['pod'], `${at}.pod`), adminUrl: url(entry['adminUrl'], `${at}.adminUrl`, ['http:']) };
  });
  const entrypoints = list(root['entrypoints'], 'entrypoints').map((raw, i) => {
    const at = `entrypoints[${i}]`;
    const entry = object(raw, at);
    const target: EntrypointTarget = {
      name: text(entry['name'], `${at}.name`),
      pod: podRef(entry['pod'], `${at}.pod`),
      url: url(entry['url'], `${at}.url`, ['https:']),
      ...(entry['serverName'] === undefined ? {} : { serverName: text(entry['serverName'], `${at}.serverName`) }),
      ...(entry['caFile'] === undefined ? {} : { caFile: text(entry['caFile'], `${at}.caFile`) }),
      ...(entry['statusUrl'] === undefined ? {} : { statusUrl: url(entry['statusUrl'], `${at}.statusUrl`, ['http:']) }),
    };
    return target;
  });
  return { sidecars, entrypoints };
}

export function readStatusTargets(path: string): StatusTargets {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new StatusTargetsError(`cannot read status targets ${path}: ${(error as Error).message}`);
  }
  return parseStatusTargets(parsed);
}

function object(value: unknown, at: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new StatusTargetsError(`${at} must be an object`);
  return value as Record<string, unknown>;
}

function list(value: unknown, at: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new StatusTargetsError(`${at} must be a list`);
  return value;
}

function text(value: unknown, at: string): string {
  if (typeof value !== 'string' || value === '') throw new StatusTargetsError(`${at} must be a non-empty string`);
  return value;
}

function podRef(value: unknown, at: string): string {
  const ref = text(value, at);
  if (!/^[a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*$/.test(ref)) throw new StatusTargetsError(`${at} must be "namespace/name"`);
  return ref;
}

function url(value: unknown, at: string, protocols: readonly string[]): string {
  const raw = text(value, at);
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new StatusTargetsError(`${at}: ${JSON.stringify(raw)} is not a URL`);
  }
  if (!protocols.includes(parsed.protocol)) throw new StatusTargetsError(`${at} must be a ${protocols.join(' or ')} URL`);
  return raw.replace(/\/+$/, '');
}
