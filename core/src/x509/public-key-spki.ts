import type { KeyObject } from 'node:crypto';

// KeyObject.export({ type: 'spki' }) goes through OpenSSL 3's encoder framework and costs
// ~70 µs, more than signing the certificate. parseCsr already holds the exact SPKI bytes of
// every key it imports, so it leaves them here and the CA reuses them; KeyObjects are
// immutable, so the bytes can never go stale.
const known = new WeakMap<KeyObject, Buffer>();

// SubjectPublicKeyInfo header for id-ecPublicKey/prime256v1 followed by an uncompressed point.
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
export const P256_SPKI_LENGTH = P256_SPKI_PREFIX.length + 65;

/** DER SubjectPublicKeyInfo of a public key, in the canonical uncompressed-point form for P-256. */
export function publicKeySpkiDer(key: KeyObject): Buffer {
  let der = known.get(key);
  if (der === undefined) {
    der = key.export({ format: 'der', type: 'spki' });
    known.set(key, der);
  }
  return der;
}

/**
 * The canonical SPKI of a P-256 public key; TypeError for any other key. Reading the curve
 * from the SPKI header instead of asymmetricKeyDetails saves a native call per fresh key.
 */
export function p256PublicKeySpkiDer(key: KeyObject): Buffer {
  if (key?.type !== 'public') throw new TypeError('expected an EC P-256 public KeyObject');
  const der = publicKeySpkiDer(key);
  if (!isCanonicalP256Spki(der)) throw new TypeError(`expected an EC P-256 public key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return der;
}

/** True for the canonical SPKI of a P-256 key (uncompressed point), the only form certificates carry. */
export function isCanonicalP256Spki(der: Uint8Array): boolean {
  return der.length === P256_SPKI_LENGTH && P256_SPKI_PREFIX.equals(der.subarray(0, P256_SPKI_PREFIX.length)) && der[P256_SPKI_PREFIX.length] === 0x04;
}

/** Called by parseCsr with bytes OpenSSL just accepted for `key`; non-canonical forms are left to export(). */
export function rememberSpki(key: KeyObject, der: Uint8Array): void {
  if (isCanonicalP256Spki(der)) known.set(key, Buffer.from(der));
}
