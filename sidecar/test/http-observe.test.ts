// The HTTP observer as a pure function of the bytes a relay sees: protocol detection, the
// HTTP/1.x framer (keep-alive, pipelining, Content-Length, chunked, until close, interim
// responses, tunnels), and fallback to opaque on anything it does not understand.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Http1Parser, MAX_HEAD_BYTES, parseHead } from '../src/http-observe/http1-parser.js';
import type { Http1Head } from '../src/http-observe/http1-parser.js';
import { HttpObserver } from '../src/http-observe/http-observer.js';
import type { HttpExchange, HttpExchangeRecorder } from '../src/http-observe/http-observer.js';
import { detectProtocol } from '../src/http-observe/protocol-detect.js';
import { formatTraceParent, parseTraceParent } from '../src/http-observe/traceparent.js';

interface Finished {
  readonly method: string;
  readonly status: number;
  readonly error: string | undefined;
}

function recorder(onStart?: (head: Http1Head, chunk: Buffer) => void): HttpExchangeRecorder & { detected_: string[]; finished: Finished[]; heads: Http1Head[] } {
  const detected_: string[] = [];
  const finished: Finished[] = [];
  const heads: Http1Head[] = [];
  return {
    detected_,
    finished,
    heads,
    detected: (protocol) => detected_.push(protocol),
    requestStarted: (head, chunk) => {
      heads.push(head);
      onStart?.(head, chunk);
      return undefined;
    },
    requestFinished: (exchange: HttpExchange, _seconds, error) => finished.push({ method: exchange.method, status: exchange.status, error }),
  };
}

/** An outbound observer (the app is the local end): client bytes fromLocal, server bytes fromPeer. */
function outbound(rec = recorder()) {
  const observer = new HttpObserver(rec, true);
  return {
    observer,
    rec,
    client: (text: string | Buffer) => observer.fromLocal(Buffer.from(text)),
    server: (text: string | Buffer) => observer.fromPeer(Buffer.from(text)),
  };
}

/** Feeds `text` one byte at a time; returns the last verdict. */
function byteByByte(feed: (b: Buffer) => boolean, text: string): boolean {
  let ok = true;
  for (const byte of Buffer.from(text)) ok = feed(Buffer.from([byte]));
  return ok;
}

describe('protocol detection', () => {
  test('HTTP/1 methods, the HTTP/2 preface, partial prefixes and everything else', () => {
    assert.equal(detectProtocol(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
    assert.equal(detectProtocol(Buffer.from('DELETE /x HTTP/1.1\r\n')), 'http1');
    assert.equal(detectProtocol(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2');
    assert.equal(detectProtocol(Buffer.from('GE')), 'need_more');
    assert.equal(detectProtocol(Buffer.from('PRI * HTTP/2')), 'need_more');
    assert.equal(detectProtocol(Buffer.from('')), 'need_more');
    assert.equal(detectProtocol(Buffer.from([0x16, 0x03, 0x01, 0x00])), 'opaque');
    assert.equal(detectProtocol(Buffer.from('get / HTTP/1.1\r\n')), 'opaque');
    assert.equal(detectProtocol(Buffer.from('PROPFIND /dav HTTP/1.1\r\n')), 'http1', 'an unregistered method, whole request line');
    assert.equal(detectProtocol(Buffer.from('PROPFIND /dav HT')), 'need_more');
    assert.equal(detectProtocol(Buffer.from('GETX / SMTP\r\n')), 'opaque');
    assert.equal(detectProtocol(Buffer.from('HELLO')), 'need_more');
    assert.equal(detectProtocol(Buffer.from('*1\r\n$4\r\nPING\r\n')), 'opaque');
    assert.equal(detectProtocol(Buffer.from(`X ${'a'.repeat(2000)}`)), 'opaque', 'no request line within the limit');
  });
});

const head = (kind: 'request' | 'response', text: string) => parseHead(kind, Buffer.from(text, 'latin1'));

describe('HTTP/1 heads', () => {
  test('request and status lines, framing headers, traceparent and its offset', () => {
    const text = 'POST /a HTTP/1.1\r\nHost: x\r\ncontent-LENGTH:  12 \r\nTraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n';
    const req = parseHead('request', Buffer.from(`xx${text}`), 2, 2 + text.length, 100);
    assert.equal(req?.method, 'POST');
    assert.equal(req?.contentLength, 12);
    assert.equal(req?.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.equal(req?.traceparentOffset, 100 + 'POST /a HTTP/1.1\r\nHost: x\r\ncontent-LENGTH:  12 \r\nTraceparent: '.length);
    const res = head('response', 'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n');
    assert.deepEqual([res?.status, res?.chunked, res?.contentLength], [404, true, -1], 'chunked wins over Content-Length');
    assert.equal(head('response', 'HTTP/1.0 200\r\n\r\n')?.status, 200, 'an empty reason phrase');
    assert.equal(head('request', 'PROPFIND /x HTTP/1.1\r\n\r\n')?.method, 'PROPFIND');
    assert.equal(head('request', 'GEX /x HTTP/1.1\r\n\r\n')?.method, 'GEX');
    for (const bad of [
      'GET /a HTTP/2.0\r\n\r\n',
      'G(T /a HTTP/1.1\r\n\r\n',
      'GET HTTP/1.1\r\n\r\n',
      'GET /a HTTP/1.1\r\nno colon\r\n\r\n',
      'GET /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'GET /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
    ]) {
      assert.equal(head('request', bad), undefined, JSON.stringify(bad));
    }
    assert.equal(head('response', 'HTTP/1.1 99 x\r\n\r\n'), undefined);
    assert.equal(head('response', 'HTTP/1.1 2000 x\r\n\r\n'), undefined);
    assert.equal(head('response', 'HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n'), undefined);
  });

  test('a head larger than the limit stops the parser', () => {
    const parser = new Http1Parser('request', { onHead: () => 'default', onMessageEnd: () => {} });
    assert.equal(parser.push(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`)), false);
    assert.equal(parser.stopped, true);
  });
});

describe('HTTP/1 exchanges', () => {
  test('keep-alive: sequential requests with Content-Length bodies, each timed with its status', () => {
    const { client, server, rec, observer } = outbound();
    assert.equal(client('POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello'), true);
    assert.equal(server('HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok'), true);
    assert.equal(client('GET /b HTTP/1.1\r\n\r\n'), true);
    assert.equal(server('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'), true);
    assert.deepEqual(rec.detected_, ['http1']);
    assert.deepEqual(rec.finished, [
      { method: 'POST', status: 201, error: undefined },
      { method: 'GET', status: 404, error: undefined },
    ]);
    assert.equal(observer.requests, 2);
    observer.close();
    assert.equal(rec.finished.length, 2, 'nothing pending at close');
  });

  test('pipelined requests in one chunk, responses split across chunks and bytes', () => {
    const { client, server, rec } = outbound();
    client('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nDELETE /3 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc');
    assert.equal(rec.heads.length, 3);
    // HEAD's response declares a length but has no body.
    const responses = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyzHTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n';
    assert.equal(byteByByte((b) => server(b), responses), true);
    assert.deepEqual(
      rec.finished.map((f) => `${f.method} ${f.status}`),
      ['GET 200', 'HEAD 200', 'DELETE 204'],
    );
  });

  test('chunked bodies with extensions and trailers, in both directions', () => {
    const { client, server, rec } = outbound();
    client('POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n');
    client('GET /next HTTP/1.1\r\n\r\n');
    assert.equal(rec.heads.length, 2, 'the chunked request ended where the next one starts');
    server('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
    server('A\r\n0123456789\r\n0\r\nX-Checksum: 1\r\n\r\n');
    server('HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n');
    assert.deepEqual(
      rec.finished.map((f) => `${f.method} ${f.status}`),
      ['POST 200', 'GET 500'],
    );
  });

  test('100 Continue is interim; a body until close completes at close', () => {
    const { client, server, rec, observer } = outbound();
    client('PUT /big HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
    server('HTTP/1.1 100 Continue\r\n\r\n');
    client('data');
    server('HTTP/1.0 200 OK\r\n\r\nstreamed until the server closes');
    assert.equal(rec.finished.length, 0);
    observer.close();
    assert.deepEqual(rec.finished, [{ method: 'PUT', status: 200, error: undefined }]);
  });

  test('requests without a response at close are reported as failed', () => {
    const { client, rec, observer } = outbound();
    client('GET /slow HTTP/1.1\r\n\r\n');
    observer.close();
    assert.deepEqual(rec.finished, [{ method: 'GET', status: 0, error: 'connection_closed' }]);
  });

  test('a WebSocket upgrade is recorded, then the tunnel is not observed', () => {
    const { client, server, rec, observer } = outbound();
    client('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    assert.equal(server('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'), false);
    assert.equal(client('\x81\x85garbage frames'), false);
    assert.deepEqual(rec.finished, [{ method: 'GET', status: 101, error: undefined }]);
    assert.equal(observer.stopped, true);
  });

  test('garbage after a valid exchange stops observation (the relay carries on as opaque)', () => {
    const { client, server, rec, observer } = outbound();
    client('GET / HTTP/1.1\r\n\r\n');
    server('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    assert.equal(client('\x00\x01binary junk\r\n\r\n'), false);
    assert.equal(server('anything'), false);
    assert.equal(observer.stopped, true);
    assert.equal(rec.finished.length, 1);
    assert.equal(client('GET / HTTP/1.1\r\n\r\n'), false, 'stays stopped');
    observer.close();
    assert.equal(rec.finished.length, 1, 'nothing reported for the confused part');
  });

  test('a response nobody asked for, or a malformed chunk size, stops observation', () => {
    const a = outbound();
    a.client('GET / HTTP/1.1\r\n\r\n');
    a.server('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    assert.equal(a.server('HTTP/1.1 200 OK\r\n\r\n'), false);
    const b = outbound();
    b.client('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n');
    assert.equal(b.client('zz\r\n'), false);
  });

  test('opaque: the server speaks first, or the client opens with something else; HTTP/2 is counted', () => {
    const first = outbound();
    assert.equal(first.server('220 smtp.example ESMTP\r\n'), false);
    assert.equal(first.client('EHLO me\r\n'), false);
    assert.deepEqual(first.rec.detected_, ['opaque']);
    const binary = outbound();
    assert.equal(binary.client(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])), false);
    assert.deepEqual(binary.rec.detected_, ['opaque']);
    const h2 = outbound();
    assert.equal(h2.client('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04'), false);
    assert.deepEqual(h2.rec.detected_, ['h2']);
    assert.equal(h2.observer.protocol, 'h2');
  });

  test('a request line split after two bytes is still detected', () => {
    const { client, server, rec } = outbound();
    assert.equal(client('GE'), true);
    client('T /split HTTP/1.1\r\n\r\n');
    server('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    assert.deepEqual(rec.finished, [{ method: 'GET', status: 200, error: undefined }]);
  });

  test('inbound: the peer is the client', () => {
    const rec = recorder();
    const observer = new HttpObserver(rec, false);
    observer.fromPeer(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    observer.fromLocal(Buffer.from('HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n'));
    assert.deepEqual(rec.finished, [{ method: 'GET', status: 302, error: undefined }]);
  });

  test('the traceparent value can be rewritten in place in the chunk that carries the head', () => {
    const value = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const rec = recorder((head, chunk) => {
      assert.equal(chunk.toString('latin1', head.traceparentOffset, head.traceparentOffset + 55), value);
      chunk.write('1111111111111111', head.traceparentOffset + 36, 'latin1');
    });
    const observer = new HttpObserver(rec, true);
    const chunk = Buffer.from(`GET / HTTP/1.1\r\ntraceparent: ${value}\r\n\r\n`);
    observer.fromLocal(chunk);
    assert.match(chunk.toString(), /traceparent: 00-0af7651916cd43dd8448eb211c80319c-1111111111111111-01\r\n/);
    // A head split over chunks has no offset to rewrite at.
    const split = recorder();
    const o2 = new HttpObserver(split, true);
    o2.fromLocal(Buffer.from('GET / HTTP/1.1\r\ntracepa'));
    o2.fromLocal(Buffer.from(`rent: ${value}\r\n\r\n`));
    assert.equal(split.heads[0]?.traceparent, value);
    assert.equal(split.heads[0]?.traceparentOffset, -1);
  });
});

describe('traceparent', () => {
  test('parses version 00, refuses malformed and all-zero ids, formats back', () => {
    const value = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    assert.deepEqual(parseTraceParent(value), { traceId: '0af7651916cd43dd8448eb211c80319c', parentId: 'b7ad6b7169203331', flags: 1 });
    assert.equal(formatTraceParent('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 1), value);
    assert.equal(parseTraceParent('00-00000000000000000000000000000000-b7ad6b7169203331-01'), undefined);
    assert.equal(parseTraceParent('00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'), undefined);
    assert.equal(parseTraceParent('ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), undefined);
    assert.equal(parseTraceParent('00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01'), undefined);
    assert.equal(parseTraceParent('garbage'), undefined);
  });
});

describe('robustness', () => {
  test('any split of a valid conversation gives the same exchanges; random bytes never throw', () => {
    const requests =
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\nPUT /3 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc';
    const responses = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n';
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const splits = (text: string): Buffer[] => {
      const bytes = Buffer.from(text);
      const out: Buffer[] = [];
      for (let at = 0; at < bytes.length; ) {
        const n = 1 + Math.floor(random() * 40);
        out.push(bytes.subarray(at, at + n));
        at += n;
      }
      return out;
    };
    for (let round = 0; round < 200; round++) {
      const { observer, rec } = outbound();
      for (const chunk of splits(requests)) observer.fromLocal(Buffer.from(chunk));
      for (const chunk of splits(responses)) observer.fromPeer(Buffer.from(chunk));
      assert.deepEqual(
        rec.finished.map((f) => `${f.method} ${f.status}`),
        ['GET 200', 'POST 201', 'PUT 204'],
        `round ${round}`,
      );
    }
    for (let round = 0; round < 300; round++) {
      const { observer } = outbound();
      const junk = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
      const prefix = round % 2 === 0 ? Buffer.from('GET / HTTP/1.1\r\n') : Buffer.alloc(0);
      observer.fromLocal(Buffer.concat([prefix, junk]));
      observer.fromPeer(junk);
      observer.close();
    }
  });
});
