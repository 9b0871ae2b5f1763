import { hostname } from 'node:os';
import { validateTrustDomain } from '@reseal/core';
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from './identity/certify-service.js';

/** Everything the control plane reads from its environment, parsed and checked once at start. */
export interface ControlPlaneConfig {
  trustDomain: string;
  listenHost: string;
  identityPort: number;
  /** /live, /ready, /metrics. */
  adminPort: number;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  tokenAudience: string;
  rateLimit: { burst: number; perSecond: number };
  servingDnsNames: string[];
  logLevel: string;
  /**
   * Kubernetes mode: the leader keeps the admission webhook's serving certificate and the
   * configuration's caBundle. Undefined when RESEAL_WEBHOOK_CONFIGURATION is set empty.
   */
  webhook: WebhookCertificateConfig | undefined;
  /** Kubernetes mode: the Lease that elects the replica doing leader-only work. */
  leaderElection: { leaseName: string; identity: string };
  mode:
    | { kind: 'kubernetes'; namespace: string; caSecretName: string }
    | { kind: 'standalone'; tokensFile: string; caDir: string | undefined; topologyFile?: string; statusPage?: { port: number; targetsFile: string | undefined } };
}

export interface WebhookCertificateConfig {
  /** MutatingWebhookConfiguration whose webhooks get the trust bundle as caBundle. */
  configurationName: string;
  /** kubernetes.io/tls Secret (in the mesh namespace) the injector serves from. */
  secretName: string;
  /** The injector's Service (in the mesh namespace): the certificate's DNS names. */
  serviceName: string;
  certTtlSeconds: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

export function parseConfig(env: Env): ControlPlaneConfig {
  const trustDomain = env.RESEAL_TRUST_DOMAIN ?? 'cluster.local';
  try {
    validateTrustDomain(trustDomain);
  } catch (error) {
    throw new ConfigError(`RESEAL_TRUST_DOMAIN: ${(error as Error).message}`);
  }
  const namespace = env.RESEAL_NAMESPACE ?? 'reseal-system';
  const defaultTtlSeconds = duration(env, 'RESEAL_CERT_TTL', 3600);
  const maxTtlSeconds = duration(env, 'RESEAL_CERT_MAX_TTL', MAX_TTL_SECONDS);
  if (defaultTtlSeconds < MIN_TTL_SECONDS || maxTtlSeconds > MAX_TTL_SECONDS || defaultTtlSeconds > maxTtlSeconds) {
    throw new ConfigError(`certificate TTLs must satisfy 60s <= RESEAL_CERT_TTL <= RESEAL_CERT_MAX_TTL <= 24h (got ${defaultTtlSeconds}s, ${maxTtlSeconds}s)`);
  }
  const tokensFile = env.RESEAL_STANDALONE_TOKENS;
  // Discovery in standalone mode serves this file (JSON, see discovery/standalone-topology.ts).
  const topologyFile = env.RESEAL_STANDALONE_TOPOLOGY;
  if (topologyFile && !tokensFile) throw new ConfigError('RESEAL_STANDALONE_TOPOLOGY is for standalone mode, which needs RESEAL_STANDALONE_TOKENS too');
  // Standalone: the status page (status-page/) on its own port, polling the sidecars named in RESEAL_STATUS_TARGETS.
  const statusPort = env.RESEAL_STATUS_PORT ? integer(env, 'RESEAL_STATUS_PORT', 0, 0, 65535) : undefined;
  if ((statusPort !== undefined || env.RESEAL_STATUS_TARGETS) && !tokensFile) throw new ConfigError('RESEAL_STATUS_PORT and RESEAL_STATUS_TARGETS are for standalone mode, which needs RESEAL_STANDALONE_TOKENS too');
  const webhookCertTtlSeconds = duration(env, 'RESEAL_WEBHOOK_CERT_TTL', 24 * 3600);
  // The API server re-reads caBundle at once, but kubelet takes a minute or two to update a
  // mounted Secret: half of the lifetime must leave the injector time to pick up the renewal.
  if (webhookCertTtlSeconds < 60 || webhookCertTtlSeconds > 365 * 86_400) {
    throw new ConfigError(`RESEAL_WEBHOOK_CERT_TTL must be from 60s to 8760h (got ${webhookCertTtlSeconds}s)`);
  }
  const webhookConfiguration = env.RESEAL_WEBHOOK_CONFIGURATION ?? 'reseal-injector';
  return {
    trustDomain,
    listenHost: env.RESEAL_LISTEN_HOST ?? '0.0.0.0',
    identityPort: integer(env, 'RESEAL_IDENTITY_PORT', 15012, 0, 65535),
    adminPort: integer(env, 'RESEAL_ADMIN_PORT', 15014, 0, 65535),
    defaultTtlSeconds,
    maxTtlSeconds,
    tokenAudience: env.RESEAL_TOKEN_AUDIENCE ?? 'reseal',
    rateLimit: {
      burst: integer(env, 'RESEAL_RATE_LIMIT_BURST', 200, 1, 1_000_000),
      perSecond: integer(env, 'RESEAL_RATE_LIMIT_PER_SECOND', 50, 1, 1_000_000),
    },
    servingDnsNames: (env.RESEAL_SERVING_DNS_NAMES ?? `reseal-control-plane.${namespace}.svc,reseal-control-plane.${namespace}.svc.cluster.local`)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    logLevel: env.LOG_LEVEL ?? 'info',
    webhook:
      webhookConfiguration === ''
        ? undefined
        : {
            configurationName: webhookConfiguration,
            secretName: env.RESEAL_WEBHOOK_SECRET || 'reseal-injector-tls',
            serviceName: env.RESEAL_WEBHOOK_SERVICE || 'reseal-injector',
            certTtlSeconds: webhookCertTtlSeconds,
          },
    leaderElection: {
      leaseName: env.RESEAL_LEADER_ELECTION_LEASE || 'reseal-control-plane',
      // The pod name (downward API) makes the Lease holder readable; a suffix added at start
      // keeps it unique across restarts of the same pod.
      identity: env.RESEAL_POD_NAME || hostname(),
    },
    mode: tokensFile
      ? {
          kind: 'standalone',
          tokensFile,
          caDir: env.RESEAL_STANDALONE_CA_DIR,
          ...(topologyFile ? { topologyFile } : {}),
          ...(statusPort !== undefined ? { statusPage: { port: statusPort, targetsFile: env.RESEAL_STATUS_TARGETS || undefined } } : {}),
        }
      : { kind: 'kubernetes', namespace, caSecretName: env.RESEAL_CA_SECRET ?? 'reseal-ca' },
  };
}

/** Seconds, or a number with s/m/h. */
export function parseDuration(value: string): number | null {
  const m = /^(\d+)(s|m|h)?$/.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return m[2] === 'h' ? n * 3600 : m[2] === 'm' ? n * 60 : n;
}

function duration(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const seconds = parseDuration(raw);
  if (seconds === null) throw new ConfigError(`${name}: "${raw}" is not a duration like 60s, 15m or 1h`);
  return seconds;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name}: "${raw}" is not an integer in ${min}..${max}`);
  return n;
}
