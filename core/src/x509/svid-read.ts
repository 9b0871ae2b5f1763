import { X509Certificate } from 'node:crypto';
import { parseSpiffeId } from '../spiffe-id.js';
import { readCertificateFields } from './certificate-fields.js';
import { DerError, TAG, children, content, expectTag, readBoolean, readTlv } from './der-reader.js';
import { OID } from './oids.js';

export type SvidReadResult =
  | { readonly ok: true; readonly spiffeId: string; readonly trustDomain: string; readonly path: string }
  | { readonly ok: false; readonly reason: string };

const URI_TAG = 0x86;
// keyCertSign (bit 5) and cRLSign (bit 6) in the first octet of the KeyUsage BIT STRING.
const CA_KEY_USAGE_BITS = 0x04 | 0x02;

/**
 * The SPIFFE ID a peer's leaf certificate asserts, under the X.509-SVID validation rules
 * (SPIFFE X509-SVID §4–5): exactly one URI SAN, a valid spiffe:// ID, and not a CA
 * certificate (cA=false, no keyCertSign/cRLSign). Chain and expiry are the TLS stack's job;
 * this only says which identity an already verified certificate carries.
 */
export function readSvid(cert: X509Certificate | Uint8Array): SvidReadResult {
  try {
    return readFromDer(cert instanceof X509Certificate ? cert.raw : cert);
  } catch (err) {
    return { ok: false, reason: `certificate cannot be read: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The ID, or null when the certificate is not a leaf X.509-SVID. */
export function readSpiffeId(cert: X509Certificate | Uint8Array): string | null {
  const result = readSvid(cert);
  return result.ok ? result.spiffeId : null;
}

function readFromDer(der: Uint8Array): SvidReadResult {
  const { extensions } = readCertificateFields(der);

  const basicConstraints = extensions.get(OID.basicConstraints);
  if (basicConstraints !== undefined) {
    const value = basicConstraints.value;
    const first = children(value, expectTag(readWhole(value), TAG.SEQUENCE, 'basicConstraints'))[0];
    if (first?.tag === TAG.BOOLEAN && readBoolean(value, first, 'cA')) {
      return { ok: false, reason: 'certificate is a CA (basicConstraints cA=true), not a leaf SVID' };
    }
  }
  const keyUsage = extensions.get(OID.keyUsage);
  if (keyUsage !== undefined) {
    // A named-bit BIT STRING: DER drops trailing zero bits, so only the first octet matters here.
    const bits = content(keyUsage.value, expectTag(readWhole(keyUsage.value), TAG.BIT_STRING, 'keyUsage'));
    if (bits.length > 1 && (bits[1]! & CA_KEY_USAGE_BITS) !== 0) {
      return { ok: false, reason: 'certificate key usage includes keyCertSign or cRLSign' };
    }
  }
  const san = extensions.get(OID.subjectAltName);
  if (san === undefined) return { ok: false, reason: 'certificate has no subjectAltName' };
  const uris = children(san.value, expectTag(readWhole(san.value), TAG.SEQUENCE, 'subjectAltName'))
    .filter((name) => name.tag === URI_TAG)
    .map((name) => Buffer.from(content(san.value, name)).toString('latin1'));
  if (uris.length !== 1) return { ok: false, reason: `certificate has ${uris.length} URI SANs, an X.509-SVID has exactly one` };
  const spiffeId = uris[0]!;
  try {
    const { trustDomain, path } = parseSpiffeId(spiffeId);
    return { ok: true, spiffeId, trustDomain, path };
  } catch (err) {
    return { ok: false, reason: `URI SAN is not a SPIFFE ID: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function readWhole(value: Uint8Array) {
  const tlv = readTlv(value, 0, value.length);
  if (tlv.end !== value.length) throw new DerError('trailing bytes in an extension value');
  return tlv;
}
