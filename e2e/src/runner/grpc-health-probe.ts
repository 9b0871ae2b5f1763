// kubelet's gRPC probe: grpc.health.v1.Health/Check over plaintext HTTP/2 to the pod IP,
// passing when the response says SERVING. Hand-encoded (one string field in, one enum out)
// so that the runner needs no gRPC library.
import { connect, constants } from 'node:http2';

const SERVING = 1;

/** HealthCheckRequest { string service = 1; } framed as one uncompressed gRPC message. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const message = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(message.length, 1);
  return Buffer.concat([frame, message]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/** The `status` (field 1, varint) of a framed HealthCheckResponse; 0 (UNKNOWN) when absent. */
export function decodeHealthCheckStatus(body: Buffer): number {
  if (body.length < 5) return 0;
  const message = body.subarray(5, 5 + body.readUInt32BE(1));
  let i = 0;
  while (i < message.length) {
    const tag = message[i++] ?? 0;
    if (tag === 0x08) {
      let value = 0;
      let shift = 0;
      for (;;) {
        const b = message[i++] ?? 0;
        value |= (b & 0x7f) << shift;
        if (!(b & 0x80)) break;
        shift += 7;
      }
      return value;
    }
    return 0; // the response has no other fields
  }
  return 0;
}

export function grpcHealthCheck(host: string, port: number, service: string, timeoutMs: number): Promise<{ ok: boolean; message: string }> {
  return new Promise((resolve) => {
    const target = `${host}:${port}`;
    let settled = false;
    const finish = (ok: boolean, message: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve({ ok, message: `gRPC probe ${target}: ${message}` });
    };
    const session = connect(`http://${target}`);
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs);
    session.on('error', (err) => finish(false, err.message));
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'kube-probe/1.33',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
    });
    stream.on('trailers', (trailers) => {
      grpcStatus = String(trailers['grpc-status'] ?? grpcStatus ?? '');
    });
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('error', (err) => finish(false, err.message));
    stream.on('end', () => {
      if (grpcStatus !== '0') return finish(false, `grpc-status ${grpcStatus ?? '(none)'}`);
      const status = decodeHealthCheckStatus(Buffer.concat(chunks));
      finish(status === SERVING, status === SERVING ? 'SERVING' : `status ${status}`);
    });
    stream.end(encodeHealthCheckRequest(service));
  });
}
