import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { TelemetryOptionsError, telemetryOptionsFromEnv, validateTrustDomain, workloadSpiffeId } from '@reseal/core';
import type { TelemetryOptions } from '@reseal/core';
import { DEFAULT_OPAQUE_PORTS } from './telemetry/http-telemetry.js';

/** Everything reseal-proxy reads from its environment, parsed and checked once at start. */
export interface ProxyConfig {
  trustDomain: string;
  spiffeId: string;
  pod: { namespace: string; name: string; ip: string; serviceAccount: string };
  controlPlane: { address: string; serverName: string };
  tokenFile: string;
  /** The mounted reseal-trust-bundle ConfigMap; unset: use the bundle the control plane returns. */
  trustBundleFile: string | undefined;
  certTtlSeconds: number;
  /** Renew after this fraction of a certificate's life (0.5 in production). */
  renewFraction: number;
  ports: { inbound: number; outbound: number; admin: number };
  /** The admin server's address: every interface in a pod (kubelet probes it on the pod IP), loopback for the demo. */
  adminHost: string;
  /** 'transparent': iptables capture; 'explicit': static listeners from a file, no root needed. */
  mode: { kind: 'transparent'; injectMode: 'full' | 'ingress' } | { kind: 'explicit'; configFile: string };
  unmeshedOutbound: 'passthrough' | 'refuse';
  appProbes: unknown;
  drainSeconds: number;
  logLevel: string;
  /** Ports whose connections skip HTTP detection (RESEAL_OPAQUE_PORTS, comma-separated). */
  opaquePorts: number[];
  /** OTLP push of metrics and spans (OTEL_EXPORTER_OTLP_ENDPOINT…). */
  telemetry: TelemetryOptions;
}

export class ProxyConfigError extends Error {
  override readonly name = 'ProxyConfigError';
}

type Env = Record<string, string | undefined>;

export function parseProxyConfig(env: Env): ProxyConfig {
  const trustDomain = env.RESEAL_TRUST_DOMAIN ?? 'cluster.local';
  try {
    validateTrustDomain(trustDomain);
  } catch (error) {
    throw new ProxyConfigError(`RESEAL_TRUST_DOMAIN: ${(error as Error).message}`);
  }
  const pod = {
    namespace: required(env, 'POD_NAMESPACE'),
    name: required(env, 'POD_NAME'),
    ip: env.POD_IP ?? '',
    serviceAccount: required(env, 'SERVICE_ACCOUNT'),
  };
  let spiffeId: string;
  try {
    spiffeId = workloadSpiffeId(trustDomain, pod.namespace, pod.serviceAccount);
  } catch (error) {
    throw new ProxyConfigError(`POD_NAMESPACE/SERVICE_ACCOUNT: ${(error as Error).message}`);
  }
  const explicitFile = env.RESEAL_EXPLICIT_CONFIG;
  const injectMode = env.RESEAL_INJECT_MODE ?? 'full';
  if (injectMode !== 'full' && injectMode !== 'ingress') throw new ProxyConfigError(`RESEAL_INJECT_MODE must be full or ingress, got "${injectMode}"`);
  const unmeshed = env.RESEAL_UNMESHED_OUTBOUND ?? 'passthrough';
  if (unmeshed !== 'passthrough' && unmeshed !== 'refuse') throw new ProxyConfigError(`RESEAL_UNMESHED_OUTBOUND must be passthrough or refuse, got "${unmeshed}"`);
  const renewFraction = Number(env.RESEAL_RENEW_FRACTION ?? '0.5');
  if (!(renewFraction >= 0.05 && renewFraction <= 0.9)) throw new ProxyConfigError(`RESEAL_RENEW_FRACTION must be within 0.05..0.9, got "${env.RESEAL_RENEW_FRACTION}"`);
  let appProbes: unknown = {};
  if (env.RESEAL_APP_PROBES) {
    try {
      appProbes = JSON.parse(env.RESEAL_APP_PROBES);
    } catch (error) {
      throw new ProxyConfigError(`RESEAL_APP_PROBES is not JSON: ${(error as Error).message}`);
    }
  }
  let telemetry: TelemetryOptions;
  try {
    telemetry = telemetryOptionsFromEnv(env);
  } catch (error) {
    if (error instanceof TelemetryOptionsError) throw new ProxyConfigError(error.message);
    throw error;
  }
  return {
    trustDomain,
    spiffeId,
    pod,
    controlPlane: {
      address: env.RESEAL_CONTROL_PLANE_ADDRESS ?? 'reseal-control-plane.reseal-system.svc:15012',
      serverName: env.RESEAL_CONTROL_PLANE_NAME ?? 'reseal-control-plane.reseal-system.svc',
    },
    tokenFile: env.RESEAL_TOKEN_FILE ?? '/var/run/secrets/reseal/token',
    trustBundleFile: env.RESEAL_TRUST_BUNDLE_FILE === '' ? undefined : (env.RESEAL_TRUST_BUNDLE_FILE ?? '/var/run/reseal/trust-bundle/ca-bundle.pem'),
    certTtlSeconds: integer(env, 'RESEAL_CERT_TTL_SECONDS', 3600, 60, 86_400),
    renewFraction,
    ports: {
      inbound: integer(env, 'RESEAL_INBOUND_PORT', 15006, 0, 65535),
      outbound: integer(env, 'RESEAL_OUTBOUND_PORT', 15001, 0, 65535),
      admin: integer(env, 'RESEAL_ADMIN_PORT', 15020, 0, 65535),
    },
    adminHost: adminHost(env),
    mode: explicitFile ? { kind: 'explicit', configFile: explicitFile } : { kind: 'transparent', injectMode },
    unmeshedOutbound: unmeshed,
    appProbes,
    drainSeconds: integer(env, 'RESEAL_DRAIN_SECONDS', 20, 0, 3600),
    logLevel: env.LOG_LEVEL ?? 'info',
    opaquePorts: portList(env, 'RESEAL_OPAQUE_PORTS', DEFAULT_OPAQUE_PORTS),
    telemetry: {
      ...telemetry,
      resourceAttributes: { 'k8s.namespace.name': pod.namespace, 'k8s.pod.name': pod.name, 'reseal.identity': spiffeId },
    },
  };
}

export function readJsonFile(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ProxyConfigError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new ProxyConfigError(`${name} is required (the injector sets it from the downward API)`);
  return value;
}

function portList(env: Env, name: string, fallback: readonly number[]): number[] {
  const raw = env[name];
  if (raw === undefined) return [...fallback];
  const ports: number[] = [];
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const range = /^(\d+)-(\d+)$/.exec(item);
    const [from, to] = range ? [Number(range[1]), Number(range[2])] : [Number(item), Number(item)];
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to > 65535 || from > to || to - from > 1024) {
      throw new ProxyConfigError(`${name}: "${item}" is not a port or a range of at most 1024 ports (e.g. 5432,6379,9000-9010)`);
    }
    for (let port = from; port <= to; port++) ports.push(port);
  }
  return ports;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ProxyConfigError(`${name}: "${raw}" is not an integer in ${min}..${max}`);
  return n;
}

function adminHost(env: Env): string {
  const host = env.RESEAL_ADMIN_HOST ?? '0.0.0.0';
  if (isIP(host) === 0) throw new ProxyConfigError(`RESEAL_ADMIN_HOST must be an IP address, got "${host}"`);
  return host;
}
