import { X509Certificate } from 'node:crypto';
import { parseWorkloadSpiffeId, readSpiffeId } from '@reseal/core';
import { AuthenticationError, type AuthenticatedCaller } from './caller.js';

const MAX_CHAIN = 4;

/**
 * Renewal by mesh certificate: the TLS handshake has proved the caller holds the key of the
 * certificate it presented; here we prove the certificate is ours, unexpired, and a workload
 * SVID of our trust domain. TLS itself does not reject unknown client certs on this port,
 * because first-time callers come with a token and no certificate at all.
 */
export function authenticateByCertificate(
  presented: readonly Buffer[],
  trustRoots: readonly X509Certificate[],
  /** The CA's own issuer chain: TLS hands us only the leaf the caller presented. */
  intermediates: readonly X509Certificate[],
  trustDomain: string,
  now = new Date(),
): AuthenticatedCaller {
  if (presented.length === 0) throw new AuthenticationError('no client certificate');
  const [leaf, ...rest] = parseAll(presented.slice(0, MAX_CHAIN));
  checkValidity(leaf!, now, 'client certificate');
  if (leaf!.ca) throw new AuthenticationError('client certificate is a CA certificate');
  if (!chainsToRoot(leaf!, [...rest, ...intermediates], trustRoots, now)) {
    throw new AuthenticationError('client certificate does not chain to the mesh trust bundle');
  }
  const spiffeId = readSpiffeId(leaf!);
  const workload = spiffeId ? parseWorkloadSpiffeId(spiffeId) : null;
  if (!workload || workload.trustDomain !== trustDomain) {
    throw new AuthenticationError(`client certificate is not a workload SVID of trust domain ${trustDomain}`);
  }
  return { namespace: workload.namespace, serviceAccount: workload.serviceAccount, method: 'certificate' };
}

function parseAll(ders: readonly Buffer[]): X509Certificate[] {
  try {
    return ders.map((der) => new X509Certificate(der));
  } catch {
    throw new AuthenticationError('client certificate cannot be parsed');
  }
}

function chainsToRoot(
  cert: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now: Date,
  depth = 0,
): boolean {
  if (depth > MAX_CHAIN) return false;
  for (const root of roots) {
    if (cert.checkIssued(root) && cert.verify(root.publicKey) && isValidAt(root, now)) return true;
  }
  for (const candidate of intermediates) {
    if (candidate.ca && cert.checkIssued(candidate) && cert.verify(candidate.publicKey) && isValidAt(candidate, now)) {
      const others = intermediates.filter((c) => c !== candidate);
      if (chainsToRoot(candidate, others, roots, now, depth + 1)) return true;
    }
  }
  return false;
}

function isValidAt(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}

function checkValidity(cert: X509Certificate, now: Date, what: string): void {
  if (now < new Date(cert.validFrom)) throw new AuthenticationError(`${what} is not valid yet`);
  if (now > new Date(cert.validTo)) throw new AuthenticationError(`${what} has expired`);
}
