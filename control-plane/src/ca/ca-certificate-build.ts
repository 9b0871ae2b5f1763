import type { KeyObject } from 'node:crypto';
import { publicKeySpkiDer } from '@reseal/core';
import {
  CA_KEY_USAGE,
  authorityKeyIdentifierExtension,
  caBasicConstraints,
  subjectKeyIdentifierExtension,
  trustDomainNameConstraints,
} from './certificate-extensions.js';
import { encodeCertificate } from './certificate-encode.js';
import { keyIdentifier } from './key-identifier.js';
import { randomSerial } from './random-serial.js';

export interface CaCertificateSpec {
  /** Name DER of this certificate. */
  readonly subject: Buffer;
  readonly publicKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Absent for a self-signed root. */
  readonly signer?: { readonly subject: Buffer; readonly keyId: Buffer; readonly key: KeyObject };
  /** Self-signed roots sign with their own private key. */
  readonly selfSigningKey?: KeyObject;
  readonly pathLength?: number;
  readonly permittedTrustDomain?: string;
}

/** A CA certificate: cA=true and keyCertSign+cRLSign, both critical; SKI always, AKI when issued by another CA. */
export function buildCaCertificate(spec: CaCertificateSpec): Buffer {
  const spki = publicKeySpkiDer(spec.publicKey);
  const keyId = keyIdentifier(spki);
  const extensions = [caBasicConstraints(spec.pathLength), CA_KEY_USAGE, subjectKeyIdentifierExtension(keyId)];
  if (spec.signer !== undefined) extensions.push(authorityKeyIdentifierExtension(spec.signer.keyId));
  if (spec.permittedTrustDomain !== undefined) extensions.push(trustDomainNameConstraints(spec.permittedTrustDomain));
  const signingKey = spec.signer?.key ?? spec.selfSigningKey;
  if (signingKey === undefined) throw new TypeError('a CA certificate needs a signer or a self-signing key');
  return encodeCertificate(
    {
      serial: randomSerial(),
      issuer: spec.signer?.subject ?? spec.subject,
      notBefore: spec.notBefore,
      notAfter: spec.notAfter,
      subject: spec.subject,
      spki,
      extensions,
    },
    signingKey,
  );
}
