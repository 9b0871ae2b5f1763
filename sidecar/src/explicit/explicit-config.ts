// Explicit mode: static listeners, for use outside Kubernetes and for the demo. No
// iptables and no root: the app dials a local port, which names one peer and its identity.

import { isIP } from 'node:net';
import { parseSpiffeId } from '@reseal/core';
import type { MtlsMode } from '../mesh-view.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface ExplicitOutboundListenerConfig {
  readonly direction: 'outbound';
  /** Where the app connects, plaintext. */
  readonly listen: HostPort;
  /** The peer's inbound listener. */
  readonly destination: HostPort;
  /** The SPIFFE ID the peer must present. */
  readonly expectedIdentity: string;
}

export interface ExplicitInboundListenerConfig {
  readonly direction: 'inbound';
  /** Where peers connect with mutual TLS. */
  readonly listen: HostPort;
  /** Where the app listens; the app host defaults to 127.0.0.1. */
  readonly appHost: string;
  readonly appPort: number;
  /**
   * Client SPIFFE IDs allowed, exact or with a trailing `*` (a prefix). Absent: every
   * identity the trust bundle vouches for, as when no AccessPolicy selects a pod.
   */
  readonly allowedIdentities: readonly string[] | undefined;
  /** Default STRICT. */
  readonly mtlsMode: MtlsMode;
}

export type ExplicitListenerConfig = ExplicitOutboundListenerConfig | ExplicitInboundListenerConfig;

export interface ExplicitConfig {
  readonly listeners: readonly ExplicitListenerConfig[];
}

export class ExplicitConfigError extends Error {
  override name = 'ExplicitConfigError';
}

/**
 * Validates a parsed JSON document such as
 * `{"listeners":[{"direction":"outbound","listen":"127.0.0.1:15001","destination":"10.0.0.7:15006","expectedIdentity":"spiffe://cluster.local/ns/shop/sa/web"},
 *                {"direction":"inbound","listen":"0.0.0.0:15006","appPort":8080,"allowedIdentities":["spiffe://cluster.local/ns/shop/*"]}]}`.
 * Every error names the offending field.
 */
export function parseExplicitConfig(input: unknown): ExplicitConfig {
  const root = object(input, 'config');
  const listeners = root.listeners;
  if (!Array.isArray(listeners) || listeners.length === 0) throw new ExplicitConfigError('config.listeners must be a non-empty array');
  const parsed = listeners.map((entry, i) => parseListener(entry, `listeners[${i}]`));
  const seen = new Set<string>();
  for (const [i, listener] of parsed.entries()) {
    const key = `${listener.listen.host}|${listener.listen.port}`;
    if (listener.listen.port !== 0 && seen.has(key)) {
      throw new ExplicitConfigError(`listeners[${i}].listen: ${formatHostPort(listener.listen)} is used by an earlier listener`);
    }
    seen.add(key);
  }
  return { listeners: parsed };
}

function parseListener(input: unknown, path: string): ExplicitListenerConfig {
  const entry = object(input, path);
  const listen = parseHostPort(string(entry.listen, `${path}.listen`), `${path}.listen`, { allowPortZero: true });
  switch (entry.direction) {
    case 'outbound': {
      known(entry, path, ['direction', 'listen', 'destination', 'expectedIdentity']);
      const destination = parseHostPort(string(entry.destination, `${path}.destination`), `${path}.destination`);
      const expectedIdentity = string(entry.expectedIdentity, `${path}.expectedIdentity`);
      spiffe(expectedIdentity, `${path}.expectedIdentity`);
      return { direction: 'outbound', listen, destination, expectedIdentity };
    }
    case 'inbound': {
      known(entry, path, ['direction', 'listen', 'appPort', 'appHost', 'allowedIdentities', 'mtlsMode']);
      const appPort = port(entry.appPort, `${path}.appPort`, false);
      const appHost = entry.appHost === undefined ? '127.0.0.1' : string(entry.appHost, `${path}.appHost`);
      let allowedIdentities: string[] | undefined;
      if (entry.allowedIdentities !== undefined) {
        if (!Array.isArray(entry.allowedIdentities)) throw new ExplicitConfigError(`${path}.allowedIdentities must be an array of SPIFFE IDs`);
        allowedIdentities = entry.allowedIdentities.map((id, i) => {
          const where = `${path}.allowedIdentities[${i}]`;
          const text = string(id, where);
          if (text.endsWith('*')) {
            if (!text.startsWith('spiffe://') || text.indexOf('*') !== text.length - 1) {
              throw new ExplicitConfigError(`${where}: a pattern is a spiffe:// prefix followed by one trailing *`);
            }
          } else {
            spiffe(text, where);
          }
          return text;
        });
      }
      const mode = entry.mtlsMode ?? 'STRICT';
      if (mode !== 'STRICT' && mode !== 'PERMISSIVE') throw new ExplicitConfigError(`${path}.mtlsMode must be STRICT or PERMISSIVE`);
      return { direction: 'inbound', listen, appHost, appPort, allowedIdentities, mtlsMode: mode };
    }
    default:
      throw new ExplicitConfigError(`${path}.direction must be "outbound" or "inbound"`);
  }
}

/** "host:port" or "[v6]:port"; the host is an IP address or a DNS name. */
export function parseHostPort(text: string, what: string, options: { allowPortZero?: boolean } = {}): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) throw new ExplicitConfigError(`${what}: ${JSON.stringify(text)} is not host:port (IPv6 as [addr]:port)`);
  const host = m[1]!;
  if (text.startsWith('[') && isIP(host) !== 6) throw new ExplicitConfigError(`${what}: ${host} is not an IPv6 address`);
  if (!text.startsWith('[') && isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    throw new ExplicitConfigError(`${what}: ${JSON.stringify(host)} is neither an IP address nor a host name`);
  }
  return { host, port: port(Number(m[2]), what, options.allowPortZero === true) };
}

export function formatHostPort(hostPort: HostPort): string {
  return isIP(hostPort.host) === 6 ? `[${hostPort.host}]:${hostPort.port}` : `${hostPort.host}:${hostPort.port}`;
}

/** Exact match, or prefix match for a pattern ending in `*`. */
export function identityAllowed(patterns: readonly string[], identity: string): boolean {
  for (const pattern of patterns) {
    if (pattern.endsWith('*') ? identity.startsWith(pattern.slice(0, -1)) : identity === pattern) return true;
  }
  return false;
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ExplicitConfigError(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function string(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new ExplicitConfigError(`${what} must be a non-empty string`);
  return value;
}

function port(value: unknown, what: string, allowZero: boolean): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 65535) {
    throw new ExplicitConfigError(`${what}: ${String(value)} is not a TCP port (${allowZero ? 0 : 1}-65535)`);
  }
  return value;
}

function spiffe(value: string, what: string): void {
  try {
    parseSpiffeId(value);
  } catch (error) {
    throw new ExplicitConfigError(`${what}: ${(error as Error).message}`);
  }
}

function known(entry: Record<string, unknown>, path: string, fields: readonly string[]): void {
  for (const key of Object.keys(entry)) {
    if (!fields.includes(key)) throw new ExplicitConfigError(`${path}.${key} is not a field of a ${String(entry.direction)} listener (${fields.join(', ')})`);
  }
}
