import { createPublicKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  Attribute,
  Extension,
  Extensions,
  GeneralName,
  Name,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { parseSpiffeId } from '../spiffe-id.js';
import { OID } from './oids.js';
import { isP256Key } from './workload-key.js';

/**
 * A DER PKCS#10 request for one SPIFFE ID: empty subject, the ID as the only URI SAN in the
 * extensionRequest, ecdsa-with-SHA256. The CA takes nothing else from it, so nothing else is asked.
 */
export function createCsr(privateKey: KeyObject, publicKey: KeyObject, spiffeId: string): Buffer {
  parseSpiffeId(spiffeId);
  if (privateKey.type !== 'private' || !isP256Key(privateKey)) throw new TypeError('createCsr: privateKey must be an EC P-256 private key');
  if (publicKey.type !== 'public' || !isP256Key(publicKey)) throw new TypeError('createCsr: publicKey must be an EC P-256 public key');
  // A mismatched pair would yield a CSR the CA rejects as lacking proof of possession.
  if (!createPublicKey(privateKey).equals(publicKey)) throw new TypeError('createCsr: privateKey and publicKey do not belong together');

  const san = new SubjectAlternativeName([new GeneralName({ uniformResourceIdentifier: spiffeId })]);
  const extensions = new Extensions([
    // Critical because the certificate's subject will be empty (RFC 5280 §4.2.1.6).
    new Extension({ extnID: OID.subjectAltName, critical: true, extnValue: new OctetString(AsnConvert.serialize(san)) }),
  ]);
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new Name(),
    subjectPKInfo: AsnConvert.parse(publicKey.export({ format: 'der', type: 'spki' }), SubjectPublicKeyInfo),
    attributes: new Attributes([new Attribute({ type: OID.extensionRequest, values: [AsnConvert.serialize(extensions)] })]),
  });
  const infoDer = Buffer.from(AsnConvert.serialize(info));
  const signature = sign('sha256', infoDer, { key: privateKey, dsaEncoding: 'der' });
  const csr = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: OID.ecdsaWithSha256 }),
    signature: new Uint8Array(signature).buffer,
  });
  return Buffer.from(AsnConvert.serialize(csr));
}
