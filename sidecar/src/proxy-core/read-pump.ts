import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/** Bytes a pump reads at once: one full TLS record (HAProxy's buffers are as large). */
export const PUMP_BUFFER_BYTES = 16 * 1024;

/**
 * The read side of one relay direction for a socket the proxy dials itself, where Node
 * lets us pass `onread` (net.connect, tls.connect): the kernel (or TLS) copies into one
 * reusable buffer and our callback writes that straight to the destination. This skips
 * what a 'data' listener costs per chunk: a fresh 64 KiB allocation by libuv, a new
 * ArrayBuffer and Buffer, and the Readable stream's push/emit machinery.
 *
 * The buffer is only reused once nothing can still point into it:
 * - a plain TCP destination: libuv writes synchronously when the kernel has room; if the
 *   write is left pending (writableLength > 0 after write()) the buffer now belongs to
 *   that write, and the pump moves on to a fresh one;
 * - a TLS destination: SSL_write encrypts (copies) synchronously when the write reaches
 *   the TLS handle at once, which is when nothing is queued ahead of it; a write that would
 *   be queued behind another is given a copy instead.
 * Backpressure: the callback returns false when the destination's buffer is full, Node
 * stops reading, and 'drain' on the destination resumes the source.
 */
export class ReadPump {
  /** Payload bytes read (and forwarded). */
  bytes = 0;
  /**
   * Sees each chunk before it is written (see RelayTap); dropped once it returns false.
   * Undefined for opaque connections, which then pay one property check per read.
   */
  tap: ((chunk: Buffer) => boolean) | undefined = undefined;
  #buffer: Buffer | undefined = Buffer.allocUnsafe(PUMP_BUFFER_BYTES);
  #destination: Socket | undefined;
  #destinationEncrypts = false;
  /** What arrived before the relay started (normally nothing). */
  #early: Buffer[] | undefined;

  /** Pass as the `onread` option of net.connect / tls.connect. */
  readonly onread = {
    buffer: (): Buffer => (this.#buffer ??= Buffer.allocUnsafe(PUMP_BUFFER_BYTES)),
    callback: (nread: number, buffer: Buffer): boolean => this.#onRead(nread, buffer),
  };

  /** Starts forwarding what `source` reads to `destination`. */
  start(source: Socket, destination: Socket): void {
    this.#destination = destination;
    this.#destinationEncrypts = destination instanceof TLSSocket;
    destination.on('drain', () => source.resume());
    const early = this.#early;
    this.#early = undefined;
    if (early !== undefined) {
      for (const chunk of early) {
        if (this.tap !== undefined && !this.tap(chunk)) this.tap = undefined;
        destination.write(chunk);
      }
    }
  }

  #onRead(nread: number, buffer: Buffer): boolean {
    this.bytes += nread;
    const destination = this.#destination;
    if (this.tap !== undefined && destination !== undefined && !this.tap(buffer.subarray(0, nread))) this.tap = undefined;
    if (destination === undefined) {
      (this.#early ??= []).push(Buffer.from(buffer.subarray(0, nread)));
      return true;
    }
    let ok: boolean;
    if (this.#destinationEncrypts) {
      ok = destination.write(destination.writableLength === 0 ? buffer.subarray(0, nread) : Buffer.from(buffer.subarray(0, nread)));
    } else {
      ok = destination.write(buffer.subarray(0, nread));
      if (destination.writableLength !== 0) this.#buffer = undefined;
    }
    return ok;
  }
}
