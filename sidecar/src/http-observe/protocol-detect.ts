// What a plaintext stream carries, decided from its first bytes without waiting for more
// than the first chunk normally holds. Pure and bounded: parses untrusted input, never throws.

export type StreamProtocol =
  /** Too few bytes to decide (a request split after a couple of bytes). */
  | 'need_more'
  /** An HTTP/1.x request line starts here. */
  | 'http1'
  /** The HTTP/2 connection preface (prior knowledge, h2c). */
  | 'h2'
  /** Anything else: TLS of the app's own, a database protocol, garbage. */
  | 'opaque';

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

// Request methods recognised as the start of HTTP/1 (the registered ones a client sends
// first; a method outside this list is forwarded as opaque TCP and simply not observed).
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY'].map((m) => Buffer.from(`${m} `, 'latin1'));
/** The most bytes detection ever asks for: a request line with an unregistered method. */
export const MAX_DETECT_BYTES = 1024;
const MAX_METHOD = 20;

export function detectProtocol(data: Uint8Array): StreamProtocol {
  if (data.length === 0) return 'need_more';
  let undecided = false;
  for (const method of METHODS) {
    const n = Math.min(method.length, data.length);
    if (prefixEquals(data, method, n)) {
      if (n === method.length) return 'http1';
      undecided = true;
    }
  }
  const n = Math.min(H2_PREFACE.length, data.length);
  if (prefixEquals(data, H2_PREFACE, n)) {
    if (n === H2_PREFACE.length) return 'h2';
    undecided = true;
  }
  if (undecided) return 'need_more';
  return otherMethodRequestLine(data);
}

/**
 * An unregistered method (WebDAV's PROPFIND, a custom one): an upper-case token, a space,
 * and a first line ending in HTTP/1.0 or HTTP/1.1, within MAX_DETECT_BYTES.
 */
function otherMethodRequestLine(data: Uint8Array): StreamProtocol {
  let at = 0;
  while (at < data.length && at <= MAX_METHOD && isMethodChar(data[at]!)) at++;
  if (at === data.length) return at <= MAX_METHOD ? 'need_more' : 'opaque';
  if (at === 0 || at > MAX_METHOD || data[at] !== 0x20) return 'opaque';
  const limit = Math.min(data.length, MAX_DETECT_BYTES);
  for (let i = at + 1; i + 1 < limit; i++) {
    if (data[i] === 0x0d && data[i + 1] === 0x0a) {
      const line = Buffer.from(data.buffer, data.byteOffset, i).toString('latin1');
      return line.endsWith(' HTTP/1.1') || line.endsWith(' HTTP/1.0') ? 'http1' : 'opaque';
    }
    if (data[i]! < 0x20 || data[i]! > 0x7e) return 'opaque';
  }
  return data.length < MAX_DETECT_BYTES ? 'need_more' : 'opaque';
}

function isMethodChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
}

function prefixEquals(data: Uint8Array, expected: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (data[i] !== expected[i]) return false;
  return true;
}
