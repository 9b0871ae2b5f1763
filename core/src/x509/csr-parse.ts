import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CsrRejectedError } from './csr-rejected-error.js';
import type { CsrRejectionCode } from './csr-rejected-error.js';
import { DerError, TAG, bitStringBytes, children, content, contentEquals, expectTag, readBoolean, readRoot, readTlv, whole } from './der-reader.js';
import type { Tlv } from './der-reader.js';
import { OID, decodeOid, describeOid, encodeOid } from './oids.js';
import { PemError, decodePemBlocks, encodePem } from './pem.js';
import { rememberSpki } from './public-key-spki.js';

export interface ParsedCsr {
  readonly publicKey: KeyObject;
  readonly spiffeId: string;
}

export interface ParseCsrOptions {
  /** Largest DER accepted; a P-256 CSR with one SPIFFE ID is about 300 bytes. Default 4096. */
  readonly maxBytes?: number;
}

export const DEFAULT_MAX_CSR_BYTES = 4096;

const CSR_PEM_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];
const EC_PUBLIC_KEY = encodeOid(OID.ecPublicKey);
const P256 = encodeOid(OID.prime256v1);
const ECDSA_WITH_SHA256 = encodeOid(OID.ecdsaWithSha256);
const EXTENSION_REQUEST = encodeOid(OID.extensionRequest);
const SUBJECT_ALT_NAME = encodeOid(OID.subjectAltName);
const PEM_PREFIX = Buffer.from('-----BEGIN');

// GeneralName CHOICE tags (all IMPLICIT, RFC 5280 §4.2.1.6).
const GENERAL_NAME_KINDS: Record<number, string> = {
  0xa0: 'otherName',
  0x81: 'email (rfc822Name)',
  0x82: 'DNS',
  0xa3: 'x400Address',
  0xa4: 'directoryName',
  0xa5: 'ediPartyName',
  0x86: 'URI',
  0x87: 'IP address',
  0x88: 'registeredID',
};
const URI_TAG = 0x86;

interface RequestedNames {
  readonly uris: string[];
  /** Kinds of every non-URI name, e.g. "DNS", for the refusal message. */
  readonly others: string[];
}

/**
 * Parses and checks a CSR from an untrusted caller against the identity the caller has
 * proven (`expectedSpiffeId`). The certificate is later built only from the returned key
 * and ID; the CSR's subject is ignored (the SVID's subject is always empty), so only what a
 * CSR could trick the CA into granting is policed: the key, the proof of possession, and
 * every requested extension.
 *
 * Throws only CsrRejectedError, whatever the input.
 */
export function parseCsr(input: Uint8Array | string, expectedSpiffeId: string, options: ParseCsrOptions = {}): ParsedCsr {
  try {
    return checkCsr(input, expectedSpiffeId, options);
  } catch (err) {
    if (err instanceof CsrRejectedError) throw err;
    // Every known failure is mapped below; this keeps the contract if a parser surprises us.
    throw reject('INVALID_ARGUMENT', `CSR could not be read: ${message(err)}`, err);
  }
}

function checkCsr(input: Uint8Array | string, expectedSpiffeId: string, options: ParseCsrOptions): ParsedCsr {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CSR_BYTES;
  let der: Uint8Array;
  try {
    der = toDer(input, maxBytes);
  } catch (err) {
    if (err instanceof CsrRejectedError) throw err;
    throw reject('INVALID_ARGUMENT', `CSR is not valid PEM: ${message(err)}`, err);
  }
  if (der.length === 0) throw reject('INVALID_ARGUMENT', 'CSR is empty');
  if (der.length > maxBytes) throw reject('INVALID_ARGUMENT', `CSR is ${der.length} bytes, more than the ${maxBytes} allowed`);

  let structure: CsrStructure;
  try {
    structure = readStructure(der);
  } catch (err) {
    if (err instanceof CsrRejectedError) throw err;
    throw reject('INVALID_ARGUMENT', `CSR is not a DER PKCS#10 request: ${message(err)}`, err);
  }

  // Imported only once the whole request is known to be well-formed: garbage is refused cheaply.
  let publicKey: KeyObject;
  try {
    // OpenSSL checks that the point is on the curve; the exact SPKI bytes go in, no re-encoding.
    publicKey = importSpki(structure.spki);
  } catch (err) {
    throw reject('INVALID_ARGUMENT', `CSR public key is not a valid P-256 point: ${message(err)}`, err);
  }
  rememberSpki(publicKey, structure.spki);

  let valid: boolean;
  try {
    // DER (not IEEE P1363) is the default signature encoding for EC keys.
    valid = verify('sha256', structure.info, publicKey, structure.signature);
  } catch (err) {
    throw reject('INVALID_ARGUMENT', `CSR signature is malformed: ${message(err)}`, err);
  }
  if (!valid) throw reject('INVALID_ARGUMENT', 'CSR signature does not verify with its public key (no proof of possession)');

  // Only now, with a well-formed and self-consistent request, is it judged on what it asks for.
  if (structure.otherExtensions.length > 0) {
    const list = structure.otherExtensions.map(describeOid).join(', ');
    throw reject('PERMISSION_DENIED', `CSR requests extension(s) ${list}; only subjectAltName may be requested`);
  }
  const names = structure.names;
  if (names === null || (names.uris.length === 0 && names.others.length === 0)) {
    throw reject('INVALID_ARGUMENT', `CSR requests no SPIFFE ID (no subjectAltName URI); expected ${expectedSpiffeId}`);
  }
  if (names.others.length > 0) {
    throw reject('PERMISSION_DENIED', `CSR requests ${names.others.join(', ')} SAN(s); only the URI SAN ${expectedSpiffeId} may be requested`);
  }
  if (names.uris.length > 1) {
    throw reject('PERMISSION_DENIED', `CSR requests ${names.uris.length} URI SANs (${names.uris.map((u) => JSON.stringify(u)).join(', ')}); only ${expectedSpiffeId} may be requested`);
  }
  const uri = names.uris[0]!;
  if (uri !== expectedSpiffeId) {
    throw reject('PERMISSION_DENIED', `CSR requests identity ${JSON.stringify(uri)} but the caller is ${expectedSpiffeId}`);
  }
  return { publicKey, spiffeId: uri };
}

function toDer(input: Uint8Array | string, maxBytes: number): Uint8Array {
  // PEM is base64 (4/3 of the DER) plus boundaries and line breaks; anything longer is oversize.
  const maxPemChars = Math.ceil(maxBytes / 3) * 4 * 1.1 + 200;
  if (typeof input === 'string') {
    if (input.length > maxPemChars) throw reject('INVALID_ARGUMENT', `CSR PEM is ${input.length} characters, more than a ${maxBytes}-byte CSR needs`);
    return pemToDer(input);
  }
  if (!(input instanceof Uint8Array)) throw reject('INVALID_ARGUMENT', 'CSR must be DER bytes or a PEM string');
  if (startsWith(input, PEM_PREFIX)) {
    if (input.length > maxPemChars) throw reject('INVALID_ARGUMENT', `CSR PEM is ${input.length} bytes, more than a ${maxBytes}-byte CSR needs`);
    return pemToDer(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1'));
  }
  return input;
}

function pemToDer(text: string): Uint8Array {
  const blocks = decodePemBlocks(text);
  if (blocks.length !== 1) throw new PemError(`expected one CERTIFICATE REQUEST block, found ${blocks.length} PEM blocks`);
  const block = blocks[0]!;
  if (!CSR_PEM_LABELS.includes(block.label)) throw new PemError(`PEM block is "${block.label}", not CERTIFICATE REQUEST`);
  return block.der;
}

interface CsrStructure {
  readonly info: Uint8Array;
  /** SubjectPublicKeyInfo, whole element, algorithm already checked. */
  readonly spki: Uint8Array;
  readonly signature: Uint8Array;
  readonly names: RequestedNames | null;
  readonly otherExtensions: string[];
}

/**
 * CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 * CertificationRequestInfo ::= SEQUENCE { version 0, subject Name, subjectPKInfo, [0] attributes }
 */
function readStructure(der: Uint8Array): CsrStructure {
  const top = readRoot(der, TAG.SEQUENCE);
  const parts = children(der, top);
  if (parts.length !== 3) throw new DerError(`CertificationRequest has ${parts.length} elements, expected 3`);
  const [infoTlv, sigAlgTlv, sigTlv] = parts as [Tlv, Tlv, Tlv];

  expectTag(infoTlv, TAG.SEQUENCE, 'certificationRequestInfo');
  const info = children(der, infoTlv);
  if (info.length !== 3 && info.length !== 4) throw new DerError(`CertificationRequestInfo has ${info.length} elements, expected 4`);
  const [versionTlv, subjectTlv, spkiTlv, attributesTlv] = info as [Tlv, Tlv, Tlv, Tlv | undefined];
  expectTag(versionTlv, TAG.INTEGER, 'version');
  if (versionTlv.end - versionTlv.contentStart !== 1 || der[versionTlv.contentStart] !== 0) {
    throw new DerError('CertificationRequestInfo version is not v1 (0)');
  }
  expectTag(subjectTlv, TAG.SEQUENCE, 'subject');
  const spki = checkPublicKeyAlgorithm(der, spkiTlv);

  // After the key, so that an RSA request is refused for its key, not its signature algorithm.
  expectTag(sigAlgTlv, TAG.SEQUENCE, 'signatureAlgorithm');
  const sigAlg = children(der, sigAlgTlv);
  const sigAlgOid = sigAlg[0] === undefined ? undefined : expectTag(sigAlg[0], TAG.OID, 'signatureAlgorithm');
  if (sigAlgOid === undefined || !contentEquals(der, sigAlgOid, ECDSA_WITH_SHA256)) {
    const name = sigAlgOid === undefined ? '(none)' : describeOid(decodeOid(content(der, sigAlgOid)) ?? '(invalid OID)');
    throw reject('INVALID_ARGUMENT', `CSR signature algorithm is ${name}; only ecdsa-with-SHA256 is accepted`);
  }
  // RFC 5758 §3.2: the parameters of ecdsa-with-SHA256 MUST be absent.
  if (sigAlg.length !== 1) throw reject('INVALID_ARGUMENT', 'CSR signature algorithm ecdsa-with-SHA256 carries parameters; they must be absent');
  const signature = bitStringBytes(der, sigTlv, 'signature');

  let names: RequestedNames | null = null;
  const otherExtensions: string[] = [];
  if (attributesTlv !== undefined) {
    expectTag(attributesTlv, 0xa0, 'attributes');
    let sawExtensionRequest = false;
    for (const attribute of children(der, attributesTlv)) {
      expectTag(attribute, TAG.SEQUENCE, 'attribute');
      const [typeTlv, valuesTlv, ...extra] = children(der, attribute);
      if (typeTlv === undefined || valuesTlv === undefined || extra.length > 0) throw new DerError('attribute is not { type, values }');
      expectTag(typeTlv, TAG.OID, 'attribute type');
      expectTag(valuesTlv, TAG.SET, 'attribute values');
      if (!contentEquals(der, typeTlv, EXTENSION_REQUEST)) {
        const oid = decodeOid(content(der, typeTlv));
        throw reject('INVALID_ARGUMENT', `CSR carries attribute ${describeOid(oid ?? '(invalid OID)')}; only extensionRequest is accepted`);
      }
      if (sawExtensionRequest) throw new DerError('extensionRequest attribute appears twice');
      sawExtensionRequest = true;
      const values = children(der, valuesTlv);
      if (values.length !== 1) throw new DerError(`extensionRequest has ${values.length} values, expected 1`);
      names = readExtensions(der, values[0]!, otherExtensions);
    }
  }
  return { info: whole(der, infoTlv), spki, signature, names, otherExtensions };
}

/** Checks the key is id-ecPublicKey on P-256 without importing it: the import is the costly part. */
function checkPublicKeyAlgorithm(der: Uint8Array, spkiTlv: Tlv): Uint8Array {
  expectTag(spkiTlv, TAG.SEQUENCE, 'subjectPKInfo');
  const [algTlv, keyTlv, ...extra] = children(der, spkiTlv);
  if (algTlv === undefined || keyTlv === undefined || extra.length > 0) throw new DerError('subjectPKInfo is not { algorithm, subjectPublicKey }');
  expectTag(algTlv, TAG.SEQUENCE, 'subjectPKInfo algorithm');
  const [algOid, params] = children(der, algTlv);
  if (algOid === undefined) throw new DerError('subjectPKInfo algorithm has no OID');
  expectTag(algOid, TAG.OID, 'subjectPKInfo algorithm');
  if (!contentEquals(der, algOid, EC_PUBLIC_KEY)) {
    const oid = decodeOid(content(der, algOid));
    const kind = oid === OID.rsaEncryption ? 'an RSA key' : `a key of algorithm ${oid ?? '(invalid OID)'}`;
    throw reject('INVALID_ARGUMENT', `CSR has ${kind}; only EC P-256 keys are accepted`);
  }
  if (params === undefined || params.tag !== TAG.OID || !contentEquals(der, params, P256)) {
    const curve = params?.tag === TAG.OID ? describeOid(decodeOid(content(der, params)) ?? '(invalid OID)') : 'not a named curve';
    throw reject('INVALID_ARGUMENT', `CSR EC key curve is ${curve}; only P-256 (prime256v1) is accepted`);
  }
  bitStringBytes(der, keyTlv, 'subjectPublicKey');
  return whole(der, spkiTlv);
}

/** Extensions ::= SEQUENCE OF Extension { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
function readExtensions(der: Uint8Array, extensionsTlv: Tlv, otherExtensions: string[]): RequestedNames | null {
  expectTag(extensionsTlv, TAG.SEQUENCE, 'extensionRequest');
  let names: RequestedNames | null = null;
  const seen = new Set<string>();
  for (const extension of children(der, extensionsTlv)) {
    expectTag(extension, TAG.SEQUENCE, 'extension');
    const parts = children(der, extension);
    const idTlv = parts[0];
    if (idTlv === undefined || parts.length < 2 || parts.length > 3) throw new DerError('extension is not { extnID, critical, extnValue }');
    expectTag(idTlv, TAG.OID, 'extnID');
    if (parts.length === 3) readBoolean(der, parts[1]!, 'extension critical');
    const valueTlv = expectTag(parts[parts.length - 1]!, TAG.OCTET_STRING, 'extnValue');
    const oid = decodeOid(content(der, idTlv));
    if (oid === null) throw new DerError('extension has an invalid OID');
    // RFC 5280 §4.2: an extension appears at most once; two SANs could be read two ways.
    if (seen.has(oid)) throw reject('INVALID_ARGUMENT', `CSR requests extension ${describeOid(oid)} twice`);
    seen.add(oid);
    if (contentEquals(der, idTlv, SUBJECT_ALT_NAME)) {
      names = readGeneralNames(der, readTlvExactly(der, valueTlv));
    } else {
      otherExtensions.push(oid);
    }
  }
  return names;
}

/**
 * A PEM string, not a { key, format: 'der' } options bag: node:crypto tells a KeyObject
 * from a bag by catching the TypeError of failed brand checks (four per bag), which costs
 * more than OpenSSL's PEM decode; a string is never brand-checked.
 */
function importSpki(spki: Uint8Array): KeyObject {
  return createPublicKey(encodePem('PUBLIC KEY', spki));
}

function readTlvExactly(der: Uint8Array, wrapper: Tlv): Tlv {
  const inner = readTlv(der, wrapper.contentStart, wrapper.end);
  if (inner.end !== wrapper.end) throw new DerError('trailing bytes inside an extension value');
  return inner;
}

function readGeneralNames(der: Uint8Array, sanTlv: Tlv): RequestedNames {
  expectTag(sanTlv, TAG.SEQUENCE, 'subjectAltName');
  const uris: string[] = [];
  const others: string[] = [];
  const entries = children(der, sanTlv);
  if (entries.length === 0) throw new DerError('subjectAltName is empty');
  for (const name of entries) {
    const kind = GENERAL_NAME_KINDS[name.tag];
    if (kind === undefined) throw new DerError(`subjectAltName has an entry with tag 0x${name.tag.toString(16)}`);
    if (name.tag !== URI_TAG) {
      others.push(kind);
      continue;
    }
    const bytes = content(der, name);
    // IA5String: a URI with bytes above 0x7F is malformed, and would not compare byte for byte.
    for (const byte of bytes) if (byte > 0x7f) throw new DerError('subjectAltName URI is not IA5 (ASCII)');
    uris.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'));
  }
  return { uris, others };
}

function startsWith(buf: Uint8Array, prefix: Uint8Array): boolean {
  if (buf.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

function reject(code: CsrRejectionCode, text: string, cause?: unknown): CsrRejectedError {
  return new CsrRejectedError(code, text, cause === undefined ? undefined : { cause });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
