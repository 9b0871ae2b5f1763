import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { httpStatusOf } from '../kubernetes/api-errors.js';
import { CaMaterialError } from './ca-material-load.js';
import { CertificateAuthority } from './certificate-authority.js';

export interface CaSecretRef {
  namespace: string;
  name: string;
  trustDomain: string;
}

const TLS_SECRET_TYPE = 'kubernetes.io/tls';

/**
 * The CA lives in a Secret of type kubernetes.io/tls (tls.crt = issuer, tls.key, ca.crt =
 * roots), the shape cert-manager writes, so an operator can bring their own. When there is
 * none, a CA is generated and stored; two replicas racing to create it settle on the winner's.
 */
export async function loadOrCreateCa(kubeConfig: KubeConfig, ref: CaSecretRef, logger: Logger): Promise<{ ca: CertificateAuthority; resourceVersion: string }> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const existing = await readSecret(api, ref);
  if (existing) return { ca: caFromSecret(existing, ref), resourceVersion: existing.metadata?.resourceVersion ?? '' };

  const ca = CertificateAuthority.generate({ trustDomain: ref.trustDomain });
  try {
    const created = await api.createNamespacedSecret({
      namespace: ref.namespace,
      body: {
        metadata: { name: ref.name, namespace: ref.namespace, labels: { 'app.kubernetes.io/managed-by': 'reseal-control-plane' } },
        type: TLS_SECRET_TYPE,
        data: secretDataFor(ca),
      },
    });
    logger.info({ event: 'ca_generated', secret: `${ref.namespace}/${ref.name}`, rootNotAfter: ca.rootNotAfter.toISOString(), issuerNotAfter: ca.issuerNotAfter.toISOString() }, 'generated a new mesh CA');
    return { ca, resourceVersion: created.metadata?.resourceVersion ?? '' };
  } catch (error) {
    if (httpStatusOf(error) !== 409) throw error;
    const winner = await readSecret(api, ref);
    if (!winner) throw new Error(`CA Secret ${ref.namespace}/${ref.name} was created concurrently but cannot be read`);
    return { ca: caFromSecret(winner, ref), resourceVersion: winner.metadata?.resourceVersion ?? '' };
  }
}

/**
 * Polls the CA Secret (get by name only, so RBAC can be limited to that one Secret) and
 * hands every changed, usable version to `onChange`: a root added to ca.crt reaches the
 * trust bundles, a new issuer starts signing. An unusable version is logged and ignored;
 * the CA in use stays. `onFailed` hears of each poll that could not read the Secret or
 * whose new version was unusable (for metrics; what it throws is ignored).
 */
export function watchCaSecret(
  kubeConfig: KubeConfig,
  ref: CaSecretRef,
  initialResourceVersion: string,
  onChange: (ca: CertificateAuthority) => void,
  logger: Logger,
  intervalMs = 10_000,
  onFailed: (error: unknown) => void = () => undefined,
): { stop(): void } {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  let seen = initialResourceVersion;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    readSecret(api, ref)
      .then((secret) => {
        const version = secret?.metadata?.resourceVersion ?? '';
        if (!secret || version === seen) return;
        seen = version;
        onChange(caFromSecret(secret, ref));
        logger.info({ event: 'ca_reloaded', resourceVersion: version }, 'CA Secret changed; reloaded');
      })
      .catch((error: unknown) => {
        logger.warn({ event: 'ca_reload_failed', err: error }, 'could not reload the CA Secret; keeping the current CA');
        try {
          onFailed(error);
        } catch {
          // An observer's failure must not end the watch.
        }
      })
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

export function caFromSecret(secret: V1Secret, ref: CaSecretRef): CertificateAuthority {
  const where = `Secret ${ref.namespace}/${ref.name}`;
  if (secret.type !== TLS_SECRET_TYPE) throw new CaMaterialError(`${where} must be of type ${TLS_SECRET_TYPE}, is ${secret.type ?? 'unset'}`);
  const field = (key: string): string => {
    const value = secret.data?.[key];
    if (!value) throw new CaMaterialError(`${where} has no ${key}`);
    return Buffer.from(value, 'base64').toString('utf8');
  };
  try {
    return CertificateAuthority.fromPem({
      issuerCertPem: field('tls.crt'),
      issuerKeyPem: field('tls.key'),
      caBundlePem: field('ca.crt'),
      trustDomain: ref.trustDomain,
    });
  } catch (error) {
    throw new CaMaterialError(`${where}: ${(error as Error).message}`);
  }
}

function secretDataFor(ca: CertificateAuthority): Record<string, string> {
  const pem = ca.toPem();
  return Object.fromEntries(Object.entries(pem).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
}

async function readSecret(api: CoreV1Api, ref: CaSecretRef): Promise<V1Secret | undefined> {
  try {
    return await api.readNamespacedSecret({ name: ref.name, namespace: ref.namespace });
  } catch (error) {
    if (httpStatusOf(error) === 404) return undefined;
    throw error;
  }
}
