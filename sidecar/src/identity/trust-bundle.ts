import { X509Certificate } from 'node:crypto';
import { decodePemAll, encodePem } from '@reseal/core';

/** The roots this workload trusts: one or several (several while a root is being rotated). */
export interface TrustBundle {
  /** Canonical PEM (comments and whitespace dropped), so that equal bundles compare equal as text. */
  readonly pem: string;
  readonly certificates: readonly X509Certificate[];
}

export interface TrustBundleSource {
  /** The newest valid bundle, or undefined while none could be read. */
  current(): TrustBundle | undefined;
  onChange(listener: (bundle: TrustBundle) => void): () => void;
}

export class TrustBundleError extends Error {
  override readonly name = 'TrustBundleError';
}

/** Parses PEM text into a bundle of CA certificates; throws TrustBundleError on anything else. */
export function parseTrustBundle(text: string): TrustBundle {
  let ders: Buffer[];
  try {
    ders = decodePemAll(text, ['CERTIFICATE'], 'trust bundle');
  } catch (error) {
    throw new TrustBundleError((error as Error).message);
  }
  const certificates = ders.map((der, index) => {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(der);
    } catch (error) {
      throw new TrustBundleError(`trust bundle: certificate #${index + 1} cannot be parsed: ${(error as Error).message}`);
    }
    // A leaf in the CA list would let whoever holds its key impersonate any workload it names.
    if (!certificate.ca) throw new TrustBundleError(`trust bundle: certificate #${index + 1} (${certificate.subject || 'empty subject'}) is not a CA certificate`);
    return certificate;
  });
  return { pem: certificates.map((c) => encodePem('CERTIFICATE', c.raw)).join(''), certificates };
}

/** True when the top of `chain` (leaf first) was issued by one of the bundle's roots, or is one. */
export function chainsToBundle(chain: readonly X509Certificate[], bundle: TrustBundle, now = new Date()): boolean {
  const top = chain[chain.length - 1];
  if (!top) return false;
  return bundle.certificates.some(
    (root) =>
      (top.raw.equals(root.raw) || (top.checkIssued(root) && top.verify(root.publicKey))) && root.validFromDate <= now && now <= root.validToDate,
  );
}
