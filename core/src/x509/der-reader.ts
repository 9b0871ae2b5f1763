// A strict DER reader for the few structures Reseal reads from untrusted peers (CSRs) and
// from certificates on every handshake. It only locates elements: callers slice out the
// exact bytes they need (the signed CertificationRequestInfo, an SPKI, a SAN) so nothing is
// re-encoded, and anything that is BER but not DER (indefinite or non-minimal lengths,
// high tag numbers, trailing bytes) is refused instead of being normalised.

export class DerError extends Error {
  override readonly name = 'DerError';
}

export interface Tlv {
  /** The identifier octet: class, constructed bit and tag number (< 31). */
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the last content byte. */
  readonly end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Reads one element at `offset` that must end at or before `limit`. */
export function readTlv(buf: Uint8Array, offset: number, limit: number = buf.length): Tlv {
  if (offset >= limit) throw new DerError(`expected an element at offset ${offset}, found the end of the data`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at offset ${offset}`);
  let pos = offset + 1;
  if (pos >= limit) throw new DerError(`truncated length at offset ${pos}`);
  const first = buf[pos++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerError(`indefinite length at offset ${offset}`);
    // Four length octets already describe 4 GiB, far beyond anything Reseal reads.
    if (count > 4) throw new DerError(`length of ${count} octets at offset ${offset}`);
    if (pos + count > limit) throw new DerError(`truncated length at offset ${pos}`);
    if (buf[pos] === 0) throw new DerError(`non-minimal length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++]!;
    if (length < 0x80) throw new DerError(`non-minimal length at offset ${offset}`);
  }
  const end = pos + length;
  if (end > limit) throw new DerError(`element at offset ${offset} runs past its container (${end} > ${limit})`);
  return { tag, start: offset, contentStart: pos, end };
}

/** Reads exactly one element filling the whole buffer (no trailing bytes). */
export function readRoot(buf: Uint8Array, expectedTag: number): Tlv {
  const tlv = readTlv(buf, 0, buf.length);
  expectTag(tlv, expectedTag, 'top-level element');
  if (tlv.end !== buf.length) throw new DerError(`${buf.length - tlv.end} trailing bytes after the top-level element`);
  return tlv;
}

/** The elements directly inside a constructed element, which must exactly fill it. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  if ((parent.tag & 0x20) === 0) throw new DerError(`element at offset ${parent.start} is not constructed`);
  const out: Tlv[] = [];
  for (let pos = parent.contentStart; pos < parent.end; ) {
    const child = readTlv(buf, pos, parent.end);
    out.push(child);
    pos = child.end;
  }
  return out;
}

export function expectTag(tlv: Tlv, tag: number, what: string): Tlv {
  if (tlv.tag !== tag) {
    throw new DerError(`${what}: expected tag 0x${tag.toString(16).padStart(2, '0')}, found 0x${tlv.tag.toString(16).padStart(2, '0')}`);
  }
  return tlv;
}

export function content(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.contentStart, tlv.end);
}

export function whole(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.start, tlv.end);
}

export function contentEquals(buf: Uint8Array, tlv: Tlv, expected: Uint8Array): boolean {
  const length = tlv.end - tlv.contentStart;
  if (length !== expected.length) return false;
  for (let i = 0; i < length; i++) if (buf[tlv.contentStart + i] !== expected[i]) return false;
  return true;
}

/** BIT STRING contents without the unused-bits octet; DER signatures and keys use whole octets. */
export function bitStringBytes(buf: Uint8Array, tlv: Tlv, what: string): Uint8Array {
  expectTag(tlv, TAG.BIT_STRING, what);
  if (tlv.end === tlv.contentStart) throw new DerError(`${what}: empty BIT STRING`);
  if (buf[tlv.contentStart] !== 0) throw new DerError(`${what}: BIT STRING has unused bits`);
  return buf.subarray(tlv.contentStart + 1, tlv.end);
}

/** DER BOOLEAN: exactly one octet, 0x00 or 0xFF. */
export function readBoolean(buf: Uint8Array, tlv: Tlv, what: string): boolean {
  expectTag(tlv, TAG.BOOLEAN, what);
  const value = tlv.end - tlv.contentStart === 1 ? buf[tlv.contentStart] : undefined;
  if (value === 0xff) return true;
  if (value === 0x00) return false;
  throw new DerError(`${what}: not a DER BOOLEAN`);
}
