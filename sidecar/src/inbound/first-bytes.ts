// What a connection arriving at the inbound port opens with, decided from its first bytes
// before anything is forwarded. Pure and bounded: parses untrusted input, never throws.

import { RESEAL_ALPN } from '../identity/tls-identity.js';

export type FirstBytesKind =
  /** Not enough bytes yet to decide. */
  | 'need_more'
  /** A TLS ClientHello offering ALPN reseal/1 (or one split over records, left to the TLS stack). */
  | 'mesh_tls'
  /** A TLS ClientHello without reseal/1: the app's own TLS from an unmeshed client. */
  | 'foreign_tls'
  /** Anything else: plaintext, or garbage. */
  | 'plaintext';

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXTENSION_ALPN = 0x0010;
const RECORD_HEADER = 5;
// A TLSPlaintext record carries at most 2^14 bytes (RFC 8446 §5.1).
const MAX_RECORD = 16_384;

/** The most bytes classification can ask for: one full record. */
export const MAX_FIRST_BYTES = RECORD_HEADER + MAX_RECORD;

const MESH_ALPN = Buffer.from(RESEAL_ALPN, 'latin1');

export function classifyFirstBytes(data: Uint8Array): FirstBytesKind {
  if (data.length === 0) return 'need_more';
  if (data[0] !== RECORD_HANDSHAKE) return 'plaintext';
  if (data.length < 2) return 'need_more';
  if (data[1] !== 0x03) return 'plaintext';
  if (data.length < 3) return 'need_more';
  if (data[2]! > 0x04) return 'plaintext';
  if (data.length < RECORD_HEADER) return 'need_more';
  const recordLength = (data[3]! << 8) | data[4]!;
  if (recordLength < 4 || recordLength > MAX_RECORD) return 'plaintext';
  if (data.length < RECORD_HEADER + 1) return 'need_more';
  if (data[5] !== HANDSHAKE_CLIENT_HELLO) return 'plaintext';
  if (data.length < RECORD_HEADER + recordLength) return 'need_more';
  const record = data.subarray(RECORD_HEADER, RECORD_HEADER + recordLength);
  const helloLength = (record[1]! << 16) | (record[2]! << 8) | record[3]!;
  // A ClientHello split over several records: the TLS stack reassembles it and enforces ALPN.
  if (4 + helloLength > record.length) return 'mesh_tls';
  const alpn = offeredAlpn(record.subarray(4, 4 + helloLength));
  if (alpn === undefined) return 'foreign_tls';
  return alpn.some((protocol) => Buffer.compare(protocol, MESH_ALPN) === 0) ? 'mesh_tls' : 'foreign_tls';
}

/** The ALPN protocol names of a ClientHello body; undefined when absent or malformed. */
export function offeredAlpn(hello: Uint8Array): Uint8Array[] | undefined {
  let at = 2 + 32; // legacy_version, random
  if (at >= hello.length) return undefined;
  at += 1 + hello[at]!; // legacy_session_id
  if (at + 2 > hello.length) return undefined;
  at += 2 + ((hello[at]! << 8) | hello[at + 1]!); // cipher_suites
  if (at >= hello.length) return undefined;
  at += 1 + hello[at]!; // legacy_compression_methods
  if (at + 2 > hello.length) return undefined;
  const extensionsEnd = at + 2 + ((hello[at]! << 8) | hello[at + 1]!);
  if (extensionsEnd > hello.length) return undefined;
  at += 2;
  while (at + 4 <= extensionsEnd) {
    const type = (hello[at]! << 8) | hello[at + 1]!;
    const length = (hello[at + 2]! << 8) | hello[at + 3]!;
    at += 4;
    if (at + length > extensionsEnd) return undefined;
    if (type === EXTENSION_ALPN) return alpnNames(hello.subarray(at, at + length));
    at += length;
  }
  return undefined;
}

function alpnNames(extension: Uint8Array): Uint8Array[] | undefined {
  if (extension.length < 2) return undefined;
  const listEnd = 2 + ((extension[0]! << 8) | extension[1]!);
  if (listEnd > extension.length) return undefined;
  const names: Uint8Array[] = [];
  let at = 2;
  while (at < listEnd) {
    const length = extension[at]!;
    if (length === 0 || at + 1 + length > listEnd) return undefined;
    names.push(extension.subarray(at + 1, at + 1 + length));
    at += 1 + length;
  }
  return names;
}
