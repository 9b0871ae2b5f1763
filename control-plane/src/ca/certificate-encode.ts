import { sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { derBitString, derElement, derInteger, derSequence, derTime } from './der-writer.js';

export interface CertificateFields {
  /** serialNumber INTEGER contents, positive and minimal. */
  readonly serial: Uint8Array;
  /** Name DER of the issuer, copied verbatim from the issuer certificate's subject. */
  readonly issuer: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Name DER; EMPTY_NAME for SVIDs. */
  readonly subject: Uint8Array;
  readonly spki: Uint8Array;
  /** Whole Extension elements, in the order they should appear. */
  readonly extensions: readonly Uint8Array[];
}

export const EMPTY_NAME = Buffer.from([0x30, 0x00]);
// [0] EXPLICIT Version v3(2)
const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
// AlgorithmIdentifier { ecdsa-with-SHA256 } with parameters absent (RFC 5758 §3.2).
export const ECDSA_WITH_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex');

// Certificates issued within the same second share their Validity; formatting two dates
// per certificate is otherwise one of the larger costs after the signature.
let lastValidity: { notBefore: number; notAfter: number; der: Buffer } | undefined;

function encodeValidity(notBefore: Date, notAfter: Date): Buffer {
  const from = notBefore.getTime();
  const to = notAfter.getTime();
  if (lastValidity?.notBefore !== from || lastValidity.notAfter !== to) {
    lastValidity = { notBefore: from, notAfter: to, der: derSequence(derTime(notBefore), derTime(notAfter)) };
  }
  return lastValidity.der;
}

/**
 * A v3 certificate signed with ecdsa-with-SHA256 by `signerKey` (an EC P-256 private key).
 * Every piece arrives already DER-encoded; this only frames and signs them.
 */
export function encodeCertificate(fields: CertificateFields, signerKey: KeyObject): Buffer {
  const tbs = derSequence(
    VERSION_V3,
    derInteger(fields.serial),
    ECDSA_WITH_SHA256,
    fields.issuer,
    encodeValidity(fields.notBefore, fields.notAfter),
    fields.subject,
    fields.spki,
    derElement(0xa3, [derElement(0x30, fields.extensions)]),
  );
  // DER is node's default ECDSA signature encoding, which X.509 requires.
  const signature = sign('sha256', tbs, signerKey);
  return derSequence(tbs, ECDSA_WITH_SHA256, derBitString(signature));
}
