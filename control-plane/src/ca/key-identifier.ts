import { hash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';

// id-ecPublicKey/prime256v1 SPKI header; the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdentifier(spkiDer: Uint8Array): Buffer {
  const spki = Buffer.from(spkiDer.buffer, spkiDer.byteOffset, spkiDer.byteLength);
  const point =
    spki.length === P256_SPKI_PREFIX.length + 65 && spki.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX)
      ? spki.subarray(P256_SPKI_PREFIX.length)
      : new Uint8Array(AsnConvert.parse(spki, SubjectPublicKeyInfo).subjectPublicKey);
  // One-shot hash: no Hash object per certificate.
  return hash('sha1', point, 'buffer');
}
