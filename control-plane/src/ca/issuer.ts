import type { KeyObject, X509Certificate } from 'node:crypto';
import { encodePem, readCertificateFields } from '@reseal/core';
import { authorityKeyIdentifierExtension } from './certificate-extensions.js';
import { keyIdentifier } from './key-identifier.js';

/**
 * Everything leaf issuance needs from the issuing CA, derived once when the CA is loaded
 * so that each issuance only encodes what differs between certificates.
 */
export interface Issuer {
  readonly key: KeyObject;
  readonly certificate: X509Certificate;
  /** Subject Name DER of the issuer certificate, verbatim: every leaf's issuer field. */
  readonly subject: Buffer;
  readonly keyId: Buffer;
  /** The AKI extension every leaf carries, pointing at keyId. */
  readonly authorityKeyIdentifier: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Issuer then intermediates up to, not including, the trust anchor: what a leaf is sent with. */
  readonly chainPem: string;
  /** When set, leaves are only issued for SPIFFE IDs of this trust domain. */
  readonly trustDomain: string | undefined;
}

export function createIssuer(certificate: X509Certificate, key: KeyObject, intermediates: readonly X509Certificate[], trustDomain: string | undefined): Issuer {
  const fields = readCertificateFields(certificate.raw);
  // The leaf's AKI must equal the issuer's SKI when it has one; otherwise derive it the same way.
  const ski = fields.extensions.get('2.5.29.14')?.value;
  // SubjectKeyIdentifier ::= OCTET STRING; key identifiers are far shorter than 128 bytes.
  if (ski !== undefined && (ski[0] !== 0x04 || ski[1] !== ski.length - 2)) {
    throw new Error('issuer certificate has a malformed subjectKeyIdentifier');
  }
  const keyId = ski !== undefined ? ski.subarray(2) : keyIdentifier(fields.spki);
  return {
    key,
    certificate,
    subject: Buffer.from(fields.subject),
    keyId: Buffer.from(keyId),
    authorityKeyIdentifier: authorityKeyIdentifierExtension(keyId),
    notBefore: certificate.validFromDate,
    notAfter: certificate.validToDate,
    chainPem: [certificate, ...intermediates].map((c) => encodePem('CERTIFICATE', c.raw)).join(''),
    trustDomain,
  };
}
