import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { validateTrustDomain } from '@reseal/core';
import { LOG_LEVELS, type LogLevel } from './patch/annotations.js';
import { DEFAULT_CONTROL_PLANE_ADDRESS, DEFAULT_INJECT_DEFAULTS, DEFAULT_MESH_NAMESPACE, makeInjectContext, type MeshInjectSettings } from './patch/inject-context.js';
import { DEFAULT_MAX_BODY_BYTES } from './webhook-server.js';

/** Everything reseal-injector reads from its environment, parsed and checked once at start. */
export interface InjectorConfig {
  listenHost: string;
  webhookPort: number;
  adminPort: number;
  tls: { certFile: string; keyFile: string };
  reloadIntervalMs: number;
  maxBodyBytes: number;
  /** The mesh settings; trustRootHash is replaced by the watched bundle's hash when trustBundleFile is set. */
  mesh: MeshInjectSettings;
  /** Hashed (and re-read) for reseal.dev/trust-root-hash; default the webhook Secret's ca.crt. */
  trustBundleFile: string | undefined;
  logLevel: string;
}

export class InjectorConfigError extends Error {
  override readonly name = 'InjectorConfigError';
}

type Env = Record<string, string | undefined>;

export const INJECTOR_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function parseInjectorConfig(env: Env): InjectorConfig {
  const trustDomain = env.RESEAL_TRUST_DOMAIN ?? 'cluster.local';
  try {
    validateTrustDomain(trustDomain);
  } catch (error) {
    throw new InjectorConfigError(`RESEAL_TRUST_DOMAIN: ${(error as Error).message}`);
  }
  const version = env.RESEAL_VERSION || INJECTOR_VERSION;
  const proxyImage = env.RESEAL_PROXY_IMAGE || `reseal/sidecar:${version}`;
  const pullPolicy = env.RESEAL_IMAGE_PULL_POLICY || 'IfNotPresent';
  if (pullPolicy !== 'Always' && pullPolicy !== 'IfNotPresent' && pullPolicy !== 'Never') {
    throw new InjectorConfigError(`RESEAL_IMAGE_PULL_POLICY must be Always, IfNotPresent or Never, got "${pullPolicy}"`);
  }
  const logLevel = (env.RESEAL_PROXY_LOG_LEVEL || DEFAULT_INJECT_DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new InjectorConfigError(`RESEAL_PROXY_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const trustRootHash = env.RESEAL_TRUST_ROOT_HASH || undefined;
  const nativeSidecars = env.RESEAL_NATIVE_SIDECARS ?? 'true';
  if (nativeSidecars !== 'true' && nativeSidecars !== 'false') throw new InjectorConfigError(`RESEAL_NATIVE_SIDECARS must be true or false, got "${nativeSidecars}"`);
  const defaults = DEFAULT_INJECT_DEFAULTS;
  let mesh: MeshInjectSettings;
  try {
    const { namespace: _namespace, ...settings } = makeInjectContext({
      namespace: '',
      meshNamespace: env.RESEAL_NAMESPACE || DEFAULT_MESH_NAMESPACE,
      images: { proxy: proxyImage, init: env.RESEAL_INIT_IMAGE || proxyImage },
      imagePullPolicy: pullPolicy,
      trustDomain,
      controlPlaneAddress: env.RESEAL_CONTROL_PLANE_ADDRESS || DEFAULT_CONTROL_PLANE_ADDRESS,
      trustRootHash,
      version,
      nativeSidecars: nativeSidecars === 'true',
      defaults: {
        resources: {
          cpuRequest: env.RESEAL_PROXY_CPU_REQUEST || defaults.resources.cpuRequest,
          memoryRequest: env.RESEAL_PROXY_MEMORY_REQUEST || defaults.resources.memoryRequest,
          cpuLimit: env.RESEAL_PROXY_CPU_LIMIT || defaults.resources.cpuLimit,
          memoryLimit: env.RESEAL_PROXY_MEMORY_LIMIT || defaults.resources.memoryLimit,
        },
        logLevel,
        certTtlSeconds: integer(env, 'RESEAL_PROXY_CERT_TTL_SECONDS', defaults.certTtlSeconds, 60, 86_400),
        drainSeconds: integer(env, 'RESEAL_PROXY_DRAIN_SECONDS', defaults.drainSeconds, 0, 3600),
        startupSeconds: integer(env, 'RESEAL_PROXY_STARTUP_SECONDS', defaults.startupSeconds, 10, 3600),
      },
    });
    mesh = settings;
  } catch (error) {
    if (error instanceof InjectorConfigError) throw error;
    throw new InjectorConfigError(`proxy defaults: ${(error as Error).message} (RESEAL_PROXY_* or RESEAL_TRUST_ROOT_HASH)`);
  }
  const certFile = env.RESEAL_TLS_CERT_FILE || '/var/run/reseal/webhook-tls/tls.crt';
  // The control plane's webhook Secret carries the trust bundle as ca.crt beside the key
  // pair, so by default the hash follows the mounted Secret; a fixed hash turns that off.
  const trustBundleFile = env.RESEAL_TRUST_BUNDLE_FILE ?? (trustRootHash ? '' : join(dirname(certFile), 'ca.crt'));
  return {
    listenHost: env.RESEAL_LISTEN_HOST || '0.0.0.0',
    webhookPort: integer(env, 'RESEAL_WEBHOOK_PORT', 9443, 0, 65535),
    adminPort: integer(env, 'RESEAL_ADMIN_PORT', 15014, 0, 65535),
    tls: { certFile, keyFile: env.RESEAL_TLS_KEY_FILE || join(dirname(certFile), 'tls.key') },
    reloadIntervalMs: integer(env, 'RESEAL_RELOAD_INTERVAL_SECONDS', 10, 1, 3600) * 1000,
    maxBodyBytes: integer(env, 'RESEAL_MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, 1024, 64 * 1024 * 1024),
    mesh,
    trustBundleFile: trustBundleFile || undefined,
    logLevel: env.LOG_LEVEL || 'info',
  };
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new InjectorConfigError(`${name}: "${raw}" is not an integer in ${min}..${max}`);
  return n;
}
