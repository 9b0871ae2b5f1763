// An incremental HTTP/1.x message framer for one direction of a connection the proxy is
// relaying anyway: it finds where each request or response head and body begin and end
// (Content-Length, chunked, until close), so the observer can time exchanges on a
// keep-alive or pipelined connection. It reads what passes and never changes a byte. It
// copies only a head split over chunks, up to MAX_HEAD_BYTES. Anything it does not
// understand stops it for good: the connection is then relayed, unobserved, as opaque TCP.

export type Http1Kind = 'request' | 'response';

export interface Http1Head {
  /** Request: the method token as sent; response: ''. */
  readonly method: string;
  /** Response: the status code; request: 0. */
  readonly status: number;
  /** Content-Length, or -1 when absent. */
  readonly contentLength: number;
  /** The last transfer coding is chunked. */
  readonly chunked: boolean;
  /** A transfer coding other than chunked is last: a response body then runs to close. */
  readonly otherEncoding: boolean;
  /** The traceparent header value, if any (the first one). */
  readonly traceparent: string | undefined;
  /**
   * Where that value starts in the chunk passed to onHead, when the whole head arrived in
   * that chunk (so the value's bytes are there to be rewritten in place); -1 otherwise.
   */
  readonly traceparentOffset: number;
}

/** What follows a head: the parser's own framing rules ('default'), or the caller's knowledge. */
export type HeadVerdict = 'default' | 'no_body' | 'until_close' | 'stop';

export interface Http1Handler {
  /** A complete head; `chunk` is the chunk being pushed when it completed. */
  onHead(head: Http1Head, chunk: Buffer): HeadVerdict;
  /** The message (head and body) is complete. */
  onMessageEnd(): void;
}

/** Longer heads are not observed (Node's own limit is 16 KiB). */
export const MAX_HEAD_BYTES = 16 * 1024;
const MAX_CHUNK_LINE = 1024;
const MAX_TRAILERS = 16 * 1024;
const CR = 0x0d;
const LF = 0x0a;

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Stopped,
}

export class Http1Parser {
  readonly #kind: Http1Kind;
  readonly #handler: Http1Handler;
  #state = State.Head;
  /** A head split over chunks (a copy). */
  #pending: Buffer | undefined;
  #remaining = 0;
  #chunkLine = '';
  #trailerLine = 0;
  #trailerBytes = 0;
  #crSeen = false;

  constructor(kind: Http1Kind, handler: Http1Handler) {
    this.#kind = kind;
    this.#handler = handler;
  }

  get stopped(): boolean {
    return this.#state === State.Stopped;
  }

  /** Between messages: nothing of a next message seen yet. */
  get idle(): boolean {
    return this.#state === State.Head && this.#pending === undefined;
  }

  /** True while the current message's body runs until the connection closes. */
  get untilClose(): boolean {
    return this.#state === State.UntilClose;
  }

  stop(): void {
    this.#state = State.Stopped;
    this.#pending = undefined;
  }

  /** Feeds the next bytes of the stream; false once the parser has stopped. */
  push(chunk: Buffer): boolean {
    const length = chunk.length;
    let at = 0;
    while (at < length) {
      switch (this.#state) {
        case State.Head:
          at = this.#pushHead(chunk, at);
          break;
        case State.Length: {
          const n = Math.min(this.#remaining, length - at);
          this.#remaining -= n;
          at += n;
          if (this.#remaining === 0) this.#messageEnd();
          break;
        }
        case State.ChunkSize: {
          const lf = chunk.indexOf(LF, at);
          const end = lf === -1 ? length : lf;
          this.#chunkLine += chunk.toString('latin1', at, end);
          if (this.#chunkLine.length > MAX_CHUNK_LINE) {
            this.stop();
            return false;
          }
          if (lf === -1) return true;
          at = lf + 1;
          const size = chunkSize(this.#chunkLine);
          this.#chunkLine = '';
          if (size < 0) {
            this.stop();
            return false;
          }
          if (size === 0) {
            this.#state = State.Trailers;
            this.#trailerLine = 0;
            this.#trailerBytes = 0;
          } else {
            this.#remaining = size;
            this.#state = State.ChunkData;
          }
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.#remaining, length - at);
          this.#remaining -= n;
          at += n;
          if (this.#remaining === 0) {
            this.#state = State.ChunkDataEnd;
            this.#crSeen = false;
          }
          break;
        }
        case State.ChunkDataEnd: {
          const byte = chunk[at++];
          if (byte === CR && !this.#crSeen) {
            this.#crSeen = true;
          } else if (byte === LF) {
            this.#state = State.ChunkSize;
          } else {
            this.stop();
            return false;
          }
          break;
        }
        case State.Trailers: {
          while (at < length) {
            const byte = chunk[at++]!;
            if (++this.#trailerBytes > MAX_TRAILERS) {
              this.stop();
              return false;
            }
            if (byte === LF) {
              if (this.#trailerLine === 0) {
                this.#messageEnd();
                break;
              }
              this.#trailerLine = 0;
            } else if (byte !== CR) {
              this.#trailerLine++;
            }
          }
          break;
        }
        case State.UntilClose:
          return true;
        case State.Stopped:
          return false;
      }
      if (this.stopped) return false;
    }
    return !this.stopped;
  }

  /** Consumes head bytes from `at`; returns where the head's successor starts (or the chunk's end). */
  #pushHead(chunk: Buffer, at: number): number {
    const length = chunk.length;
    if (this.#pending === undefined) {
      // Empty lines before a message are allowed (RFC 9112 §2.2).
      while (at < length && (chunk[at] === CR || chunk[at] === LF)) at++;
      if (at === length) return at;
      const end = findHeadEnd(chunk, at, Math.min(length, at + MAX_HEAD_BYTES));
      if (end === -1) {
        if (length - at >= MAX_HEAD_BYTES) this.stop();
        else this.#pending = Buffer.from(chunk.subarray(at));
        return length;
      }
      this.#head(chunk, at, end, chunk, at);
      return end;
    }
    const before = this.#pending.length;
    const combined = Buffer.concat([this.#pending, chunk.subarray(at)]);
    const end = findHeadEnd(combined, Math.max(0, before - 3), Math.min(combined.length, MAX_HEAD_BYTES));
    if (end === -1) {
      if (combined.length >= MAX_HEAD_BYTES) this.stop();
      else this.#pending = combined;
      return length;
    }
    this.#pending = undefined;
    this.#head(combined, 0, end, chunk, -1);
    return at + (end - before);
  }

  #head(buffer: Buffer, start: number, end: number, chunk: Buffer, offsetInChunk: number): void {
    const head = parseHead(this.#kind, buffer, start, end, offsetInChunk);
    if (head === undefined) {
      this.stop();
      return;
    }
    const verdict = this.#handler.onHead(head, chunk);
    if (this.stopped) return; // the handler stopped us
    switch (verdict) {
      case 'stop':
        this.stop();
        return;
      case 'no_body':
        this.#messageEnd();
        return;
      case 'until_close':
        this.#state = State.UntilClose;
        return;
      case 'default':
        break;
    }
    if (head.chunked) {
      this.#state = State.ChunkSize;
      this.#chunkLine = '';
    } else if (head.contentLength > 0) {
      this.#state = State.Length;
      this.#remaining = head.contentLength;
    } else if (head.contentLength === 0 || this.#kind === 'request') {
      // A request without Content-Length or chunked has no body (RFC 9112 §6.3).
      if (this.#kind === 'request' && head.otherEncoding) {
        this.stop();
        return;
      }
      this.#messageEnd();
    } else {
      this.#state = State.UntilClose;
    }
  }

  #messageEnd(): void {
    this.#state = State.Head;
    this.#handler.onMessageEnd();
  }
}

const HTTP1_PREFIX = Buffer.from('HTTP/1.', 'latin1');
const REQUEST_VERSION = Buffer.from(' HTTP/1.', 'latin1');
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding', 'latin1');
const TRACEPARENT = Buffer.from('traceparent', 'latin1');
// Method strings interned, so a request head allocates none for the common ones.
const METHOD_NAMES = new Map(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY'].map((m) => [m.length * 256 + m.charCodeAt(0), m]));

/**
 * Parses one complete head (start line, header fields, the empty line) in `buffer` from
 * `start` to `end`, reading bytes (no string for the head as a whole); undefined when malformed.
 */
export function parseHead(kind: Http1Kind, buffer: Uint8Array, start = 0, end = buffer.length, offsetInChunk = -1): Http1Head | undefined {
  const lineEnd = findCrlf(buffer, start, end);
  if (lineEnd <= start) return undefined;
  let method = '';
  let status = 0;
  if (kind === 'request') {
    let space = start;
    while (space < lineEnd && buffer[space] !== 0x20) {
      if (!isTokenChar(buffer[space]!)) return undefined;
      space++;
    }
    if (space === start || space - start > 24 || space >= lineEnd) return undefined;
    method = methodName(buffer, start, space);
    if (lineEnd - space < 11 || buffer[space + 1] === 0x20) return undefined;
    if (!bytesAt(buffer, lineEnd - 9, REQUEST_VERSION)) return undefined;
    const minor = buffer[lineEnd - 1];
    if (minor !== 0x30 && minor !== 0x31) return undefined;
  } else {
    if (lineEnd - start < 12 || !bytesAt(buffer, start, HTTP1_PREFIX) || buffer[start + 8] !== 0x20) return undefined;
    if (lineEnd - start > 12 && buffer[start + 12] !== 0x20) return undefined;
    for (let i = start + 9; i < start + 12; i++) {
      const c = buffer[i]!;
      if (c < 0x30 || c > 0x39) return undefined;
      status = status * 10 + (c - 0x30);
    }
    if (status < 100 || status > 599) return undefined;
  }
  let contentLength = -1;
  let chunked = false;
  let otherEncoding = false;
  let traceparent: string | undefined;
  let traceparentOffset = -1;
  let at = lineEnd + 2;
  // The head ends with \r\n\r\n: the last field line ends at end - 2.
  while (at < end - 2) {
    const eol = findCrlf(buffer, at, end);
    let colon = at;
    while (colon < eol && buffer[colon] !== 0x3a) colon++;
    if (colon === at || colon === eol) return undefined;
    let valueStart = colon + 1;
    while (valueStart < eol && (buffer[valueStart] === 0x20 || buffer[valueStart] === 0x09)) valueStart++;
    let valueEnd = eol;
    while (valueEnd > valueStart && (buffer[valueEnd - 1] === 0x20 || buffer[valueEnd - 1] === 0x09)) valueEnd--;
    switch (colon - at) {
      case 14:
        if (nameIs(buffer, at, CONTENT_LENGTH)) {
          if (valueEnd === valueStart || valueEnd - valueStart > 15) return undefined;
          let n = 0;
          for (let i = valueStart; i < valueEnd; i++) {
            const c = buffer[i]!;
            if (c < 0x30 || c > 0x39) return undefined;
            n = n * 10 + (c - 0x30);
          }
          if (contentLength !== -1 && contentLength !== n) return undefined;
          contentLength = n;
        }
        break;
      case 17:
        if (nameIs(buffer, at, TRANSFER_ENCODING)) {
          const codings = Buffer.from(buffer.buffer, buffer.byteOffset + valueStart, valueEnd - valueStart).toString('latin1').toLowerCase().split(',');
          const last = codings[codings.length - 1]!.trim();
          chunked = last === 'chunked';
          otherEncoding = !chunked && last !== '';
        }
        break;
      case 11:
        if (traceparent === undefined && nameIs(buffer, at, TRACEPARENT)) {
          traceparent = Buffer.from(buffer.buffer, buffer.byteOffset + valueStart, valueEnd - valueStart).toString('latin1');
          if (offsetInChunk >= 0) traceparentOffset = offsetInChunk + (valueStart - start);
        }
        break;
    }
    at = eol + 2;
  }
  // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3); the length is then ignored.
  if (chunked || otherEncoding) contentLength = -1;
  return { method, status, contentLength, chunked, otherEncoding, traceparent, traceparentOffset };
}

/** Index of the next CR LF from `at` (the CR), or `end` when there is none before it. */
function findCrlf(buffer: Uint8Array, at: number, end: number): number {
  for (let i = at; i + 1 < end; i++) if (buffer[i] === 0x0d && buffer[i + 1] === 0x0a) return i;
  return end;
}

/** Index just past the first CR LF CR LF at or after `at`, or -1. */
export function findHeadEnd(buffer: Uint8Array, at: number, end = buffer.length): number {
  for (let i = at + 3; i < end; i++) {
    if (buffer[i] === 0x0a && buffer[i - 1] === 0x0d && buffer[i - 2] === 0x0a && buffer[i - 3] === 0x0d) return i + 1;
  }
  return -1;
}

function bytesAt(buffer: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at < 0 || at + expected.length > buffer.length) return false;
  for (let i = 0; i < expected.length; i++) if (buffer[at + i] !== expected[i]) return false;
  return true;
}

function nameIs(buffer: Uint8Array, at: number, lowerName: Uint8Array): boolean {
  for (let i = 0; i < lowerName.length; i++) {
    let c = buffer[at + i]!;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lowerName[i]) return false;
  }
  return true;
}

function methodName(buffer: Uint8Array, start: number, end: number): string {
  const known = METHOD_NAMES.get((end - start) * 256 + buffer[start]!);
  if (known !== undefined) {
    let same = true;
    for (let i = 1; i < known.length && same; i++) same = buffer[start + i] === known.charCodeAt(i);
    if (same) return known;
  }
  return Buffer.from(buffer.buffer, buffer.byteOffset + start, end - start).toString('latin1');
}

// tchar (RFC 9110 §5.6.2)
function isTokenChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x27) ||
    c === 0x2a ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e
  );
}

/** The size of a chunk-size line (extensions ignored); -1 when malformed. */
function chunkSize(line: string): number {
  let end = line.length;
  if (end > 0 && line.charCodeAt(end - 1) === CR) end--;
  let size = 0;
  let digits = 0;
  for (let i = 0; i < end; i++) {
    const c = line.charCodeAt(i);
    let v: number;
    if (c >= 0x30 && c <= 0x39) v = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) v = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) v = c - 0x37;
    else if (c === 0x3b || c === 0x20 || c === 0x09) break;
    else return -1;
    if (++digits > 12) return -1;
    size = size * 16 + v;
  }
  return digits === 0 ? -1 : size;
}
