import { createPrivateKey, X509Certificate } from 'node:crypto';
import { decodePemAll, generateWorkloadKeyPair } from '@reseal/core';
import { CLOCK_SKEW_SECONDS, type CertificateAuthority } from '../ca/index.js';

export const WEBHOOK_SECRET_TYPE = 'kubernetes.io/tls';

/** The Secret fields the control plane maintains, decoded (the API's `data` is base64 of these). */
export interface ServingSecretFields {
  /** The injector's certificate followed by the issuer chain: what its TLS server presents. */
  'tls.crt': string;
  /** PKCS#8 PEM. The injector's own server key, generated here: not a workload key. */
  'tls.key': string;
  /** The mesh trust bundle, for anyone who wants to verify the injector (the caBundle). */
  'ca.crt': string;
}

export interface ServingSecretWants {
  dnsNames: readonly string[];
  trustBundlePem: string;
  now: Date;
}

export type SecretAssessment =
  | { action: 'keep'; renewAt: Date }
  /** The certificate is fine; only ca.crt trails the trust bundle (a root was added or dropped). */
  | { action: 'update-bundle'; renewAt: Date }
  | { action: 'issue'; reason: string };

/**
 * Decides what the webhook's serving Secret needs, from what is stored in it. Anything that
 * would make the API server refuse the injector (missing, wrong names, not chaining to the
 * bundle it trusts, key mismatch) or that is past half of its life means a new certificate.
 */
export function assessServingSecret(secret: { type?: string; data?: Record<string, string> } | undefined, wants: ServingSecretWants): SecretAssessment {
  if (!secret) return { action: 'issue', reason: 'missing' };
  if (secret.type !== WEBHOOK_SECRET_TYPE) return { action: 'issue', reason: `type is ${secret.type ?? 'unset'}, not ${WEBHOOK_SECRET_TYPE}` };
  const field = (key: keyof ServingSecretFields): string => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');
  let chain: X509Certificate[];
  let roots: X509Certificate[];
  try {
    chain = decodePemAll(field('tls.crt'), ['CERTIFICATE'], 'tls.crt').map((der) => new X509Certificate(der));
    roots = decodePemAll(wants.trustBundlePem, ['CERTIFICATE'], 'trust bundle').map((der) => new X509Certificate(der));
  } catch {
    return { action: 'issue', reason: 'tls.crt cannot be parsed' };
  }
  const leaf = chain[0]!;
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(field('tls.key')))) return { action: 'issue', reason: 'tls.key does not match tls.crt' };
  } catch {
    return { action: 'issue', reason: 'tls.key cannot be parsed' };
  }
  const names = dnsNamesOf(leaf);
  const missing = wants.dnsNames.filter((name) => !names.includes(name));
  if (missing.length > 0) return { action: 'issue', reason: `certificate lacks ${missing.join(', ')}` };
  if (!chainsTo(chain, roots, wants.now)) return { action: 'issue', reason: 'certificate does not chain to the trust bundle' };
  const renewAt = renewalTime(leaf);
  if (wants.now >= renewAt) return { action: 'issue', reason: 'past half of its lifetime' };
  return field('ca.crt') === wants.trustBundlePem ? { action: 'keep', renewAt } : { action: 'update-bundle', renewAt };
}

/** A new key and certificate for `dnsNames`, as Secret `data` (base64). */
export function issueServingSecretData(ca: CertificateAuthority, dnsNames: readonly string[], ttlSeconds: number, now = new Date()): { data: Record<string, string>; notAfter: Date; renewAt: Date } {
  const key = generateWorkloadKeyPair();
  const issued = ca.issueServingCertificate({ publicKey: key.publicKey, dnsNames, clientAuth: false, ttlSeconds, now });
  const fields: ServingSecretFields = {
    'tls.crt': issued.chainPem,
    'tls.key': key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    'ca.crt': ca.trustBundlePem,
  };
  return { data: encodeData(fields), notAfter: issued.notAfter, renewAt: renewalTime(new X509Certificate(issued.certDer)) };
}

export function encodeData(fields: Partial<ServingSecretFields>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
}

/**
 * Half-way through the certificate's real life. NotBefore is back-dated for clock skew, so
 * the life is counted from NotBefore plus that skew: otherwise a short-lived certificate
 * would be due for renewal the moment it is issued.
 */
export function renewalTime(cert: X509Certificate): Date {
  const notAfter = cert.validToDate.getTime();
  const start = Math.min(cert.validFromDate.getTime() + CLOCK_SKEW_SECONDS * 1000, notAfter);
  return new Date(start + (notAfter - start) / 2);
}

function dnsNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
}

/** Each certificate signed by the next, the last by one of `roots`, all valid now. */
function chainsTo(chain: readonly X509Certificate[], roots: readonly X509Certificate[], now: Date): boolean {
  const valid = (cert: X509Certificate): boolean => cert.validFromDate <= now && now <= cert.validToDate;
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    if (!valid(cert)) return false;
    if (roots.some((root) => valid(root) && cert.checkIssued(root) && cert.verify(root.publicKey))) return true;
    const parent = chain[i + 1];
    if (!parent || !parent.ca || !cert.checkIssued(parent) || !cert.verify(parent.publicKey)) return false;
  }
  return false;
}
