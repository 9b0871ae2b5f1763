import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  ExtendedKeyUsage,
  Extension,
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  NameConstraints,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_kp_clientAuth,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import { derElement, derOctetString, derSequence } from './der-writer.js';

// Extensions that are the same for every leaf of a kind are encoded once, here, with the
// schema library; per-certificate ones (SKI, SAN) are written by hand on the hot path.

function extension(oid: string, critical: boolean, value: object): Buffer {
  return Buffer.from(AsnConvert.serialize(new Extension({ extnID: oid, critical, extnValue: new OctetString(AsnConvert.serialize(value)) })));
}

export const LEAF_BASIC_CONSTRAINTS = extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false }));
export const LEAF_KEY_USAGE = extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature));
export const EKU_SERVER_AND_CLIENT = extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth, id_kp_clientAuth]));
export const EKU_SERVER = extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth]));
export const CA_KEY_USAGE = extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign));

export function caBasicConstraints(pathLength: number | undefined): Buffer {
  return extension(id_ce_basicConstraints, true, new BasicConstraints(pathLength === undefined ? { cA: true } : { cA: true, pathLenConstraint: pathLength }));
}

export function authorityKeyIdentifierExtension(keyId: Uint8Array): Buffer {
  return extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId) }));
}

/**
 * Permits only URIs whose host is the trust domain (RFC 5280 §4.2.1.10), so a stolen
 * issuing key cannot mint identities of another trust domain that a relying party trusting
 * several bundles would accept. DNS names are not constrained: serving certificates need them.
 */
export function trustDomainNameConstraints(trustDomain: string): Buffer {
  const permitted = new GeneralSubtrees([new GeneralSubtree({ base: new GeneralName({ uniformResourceIdentifier: trustDomain }) })]);
  return extension(id_ce_nameConstraints, true, new NameConstraints({ permittedSubtrees: permitted }));
}

// 06 03 55 1d 0e: OID 2.5.29.14
const SKI_OID = Buffer.from('0603551d0e', 'hex');
// 06 03 55 1d 11 then BOOLEAN TRUE: OID 2.5.29.17, critical
const SAN_OID = Buffer.from('0603551d11', 'hex');
const CRITICAL = Buffer.from('0101ff', 'hex');

export function subjectKeyIdentifierExtension(keyId: Uint8Array): Buffer {
  return derSequence(SKI_OID, derOctetString(derOctetString(keyId)));
}

export interface AltNames {
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
}

/** Critical when the subject is empty (RFC 5280 §4.2.1.6). Names must already be validated ASCII. */
export function subjectAltNameExtension(names: AltNames, critical: boolean): Buffer {
  const entries: Buffer[] = [];
  for (const dns of names.dnsNames ?? []) entries.push(derElement(0x82, [Buffer.from(dns, 'latin1')]));
  for (const uri of names.uris ?? []) entries.push(derElement(0x86, [Buffer.from(uri, 'latin1')]));
  const value = derOctetString(derElement(0x30, entries));
  return critical ? derSequence(SAN_OID, CRITICAL, value) : derSequence(SAN_OID, value);
}
