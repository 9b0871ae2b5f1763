// Object identifiers Reseal checks or writes. Byte forms are the DER contents of the OID
// (without tag and length) so hot paths compare bytes instead of decoding dotted strings.

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  sha256WithRsaEncryption: '1.2.840.113549.1.1.11',
  challengePassword: '1.2.840.113549.1.9.7',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const NAMES: Record<string, string> = Object.fromEntries(Object.entries(OID).map(([name, oid]) => [oid, name]));

/** "basicConstraints (2.5.29.19)" for error messages; the bare dotted form when unknown. */
export function describeOid(oid: string): string {
  const name = NAMES[oid];
  return name === undefined ? oid : `${name} (${oid})`;
}

/** DER contents of an OBJECT IDENTIFIER → dotted string; null when not a valid encoding. */
export function decodeOid(content: Uint8Array): string | null {
  if (content.length === 0 || content.length > 64) return null;
  const arcs: number[] = [];
  let value = 0;
  let started = false;
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!;
    // A leading 0x80 would be a non-minimal arc encoding, which DER forbids.
    if (!started && byte === 0x80) return null;
    started = true;
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) return null;
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
      started = false;
    }
  }
  if (started) return null;
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/** dotted string → DER contents of an OBJECT IDENTIFIER. */
export function encodeOid(oid: string): Buffer {
  const parts = oid.split('.').map(Number);
  const [a, b, ...rest] = parts;
  if (a === undefined || b === undefined || parts.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw new TypeError(`not an OID: ${oid}`);
  }
  const bytes: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return Buffer.from(bytes);
}
