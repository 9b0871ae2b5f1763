import { DerError, TAG, children, content, expectTag, readBoolean, readRoot, readTlv, whole } from './der-reader.js';
import type { Tlv } from './der-reader.js';
import { decodeOid } from './oids.js';

export interface CertificateExtensionField {
  readonly critical: boolean;
  /** extnValue contents: the DER of the extension's own structure. */
  readonly value: Uint8Array;
}

export interface CertificateFields {
  /** tbsCertificate exactly as signed. */
  readonly tbs: Uint8Array;
  /** 1 for v1, 3 for v3. */
  readonly version: number;
  /** serialNumber INTEGER contents (big-endian, as encoded). */
  readonly serial: Uint8Array;
  /** The signature AlgorithmIdentifier inside tbsCertificate, whole element. */
  readonly signatureAlgorithm: Uint8Array;
  /** issuer and subject Names, whole elements, byte for byte as in the certificate. */
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** Validity, whole element. */
  readonly validity: Uint8Array;
  /** SubjectPublicKeyInfo, whole element. */
  readonly spki: Uint8Array;
  /** Extensions by OID, in certificate order. */
  readonly extensions: ReadonlyMap<string, CertificateExtensionField>;
}

/**
 * The raw pieces of a DER certificate, for code that must copy names byte for byte (a
 * leaf's issuer is its issuer's subject, verbatim) or inspect extension criticality, which
 * node:crypto's X509Certificate does not expose. Throws DerError on malformed input.
 */
export function readCertificateFields(der: Uint8Array): CertificateFields {
  const certificate = readRoot(der, TAG.SEQUENCE);
  const [tbsTlv] = children(der, certificate);
  if (tbsTlv === undefined) throw new DerError('empty certificate');
  const fields = children(der, expectTag(tbsTlv, TAG.SEQUENCE, 'tbsCertificate'));
  let index = 0;
  let version = 1;
  if (fields[0]?.tag === 0xa0) {
    const versionTlv = expectTag(readTlv(der, fields[0].contentStart, fields[0].end), TAG.INTEGER, 'version');
    const bytes = content(der, versionTlv);
    if (bytes.length !== 1) throw new DerError('version is not a small INTEGER');
    version = bytes[0]! + 1;
    index = 1;
  }
  const take = (tag: number, what: string): Tlv => {
    const tlv = fields[index++];
    if (tlv === undefined) throw new DerError(`tbsCertificate ends before ${what}`);
    return expectTag(tlv, tag, what);
  };
  const serial = content(der, take(TAG.INTEGER, 'serialNumber'));
  const signatureAlgorithm = whole(der, take(TAG.SEQUENCE, 'signature'));
  const issuer = whole(der, take(TAG.SEQUENCE, 'issuer'));
  const validity = whole(der, take(TAG.SEQUENCE, 'validity'));
  const subject = whole(der, take(TAG.SEQUENCE, 'subject'));
  const spki = whole(der, take(TAG.SEQUENCE, 'subjectPublicKeyInfo'));
  const extensions = new Map<string, CertificateExtensionField>();
  for (const rest of fields.slice(index)) {
    if (rest.tag !== 0xa3) continue;
    const list = expectTag(readTlv(der, rest.contentStart, rest.end), TAG.SEQUENCE, 'extensions');
    for (const extension of children(der, list)) {
      const parts = children(der, expectTag(extension, TAG.SEQUENCE, 'extension'));
      const idTlv = parts[0];
      const valueTlv = parts[parts.length - 1];
      if (idTlv === undefined || valueTlv === undefined || parts.length < 2 || parts.length > 3) throw new DerError('malformed extension');
      const oid = decodeOid(content(der, expectTag(idTlv, TAG.OID, 'extnID')));
      if (oid === null) throw new DerError('extension with an invalid OID');
      if (extensions.has(oid)) throw new DerError(`extension ${oid} appears twice`);
      const critical = parts.length === 3 ? readBoolean(der, parts[1]!, 'critical') : false;
      extensions.set(oid, { critical, value: content(der, expectTag(valueTlv, TAG.OCTET_STRING, 'extnValue')) });
    }
  }
  return { tbs: whole(der, tbsTlv), version, serial, signatureAlgorithm, issuer, subject, validity, spki, extensions };
}
