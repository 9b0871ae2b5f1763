// The DER pieces that change on every issuance (serial, validity, key, SAN, SKI) are
// written here by hand and spliced between pieces encoded once per issuer with
// @peculiar/asn1-schema: a schema serializer per certificate costs more than the signature.

function headerLength(length: number): number {
  if (length < 0x80) return 2;
  if (length < 0x100) return 3;
  if (length < 0x10000) return 4;
  if (length < 0x1000000) return 5;
  throw new RangeError(`DER element of ${length} bytes is larger than Reseal ever writes`);
}

/** tag + length + the parts, in one allocation (this runs ~15 times per certificate). */
export function derElement(tag: number, parts: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const header = headerLength(length);
  const out = Buffer.allocUnsafe(header + length);
  out[0] = tag;
  if (header === 2) {
    out[1] = length;
  } else {
    out[1] = 0x80 | (header - 2);
    for (let i = header - 1, rest = length; i >= 2; i--, rest >>>= 8) out[i] = rest & 0xff;
  }
  let offset = header;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function derSequence(...parts: Uint8Array[]): Buffer {
  return derElement(0x30, parts);
}

export function derOctetString(bytes: Uint8Array): Buffer {
  return derElement(0x04, [bytes]);
}

/** BIT STRING with no unused bits: signatures and public keys. */
export function derBitString(bytes: Uint8Array): Buffer {
  return derElement(0x03, [ZERO, bytes]);
}

/** INTEGER from big-endian unsigned bytes whose top bit the caller has cleared. */
export function derInteger(bytes: Uint8Array): Buffer {
  return derElement(0x02, [bytes]);
}

/**
 * RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, both in whole
 * seconds with "Z". Sub-second parts are dropped, never rounded up.
 */
export function derTime(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ, always UTC
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError(`certificate time out of range: ${iso}`);
  const digits = iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19);
  return year < 2050 ? derElement(0x17, [Buffer.from(digits + 'Z', 'latin1')]) : derElement(0x18, [Buffer.from(iso.slice(0, 2) + digits + 'Z', 'latin1')]);
}

const ZERO = Buffer.from([0]);
