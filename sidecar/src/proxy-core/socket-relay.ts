import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ReadPump } from './read-pump.js';

export interface RelayOptions {
  /** Reads `local` when it was created with this pump's `onread` (see ReadPump). */
  readonly localPump?: ReadPump;
  /** Reads `peer` when it was created with this pump's `onread`. */
  readonly peerPump?: ReadPump;
  /** How long a side may take to flush after the other closed cleanly. Default 10 s. */
  readonly lingerMs?: number;
  /**
   * Sees the bytes of each direction before they are written (HTTP observation). Without
   * one the relay is exactly the untapped fast path; with one, each direction drops back to
   * it as soon as the tap returns false.
   */
  readonly tap?: RelayTap;
}

/**
 * A passive observer of a relayed connection. Each call gets one chunk before it is
 * forwarded; it may rewrite bytes in place (never the length), must not keep a reference
 * to the chunk (a ReadPump reuses its buffer), and returns false to stop seeing that direction.
 */
export interface RelayTap {
  fromLocal(chunk: Buffer): boolean;
  fromPeer(chunk: Buffer): boolean;
}

/** Which end closed first, or why the relay ended. */
export type RelayCloseCause = 'local_closed' | 'peer_closed' | 'error' | 'aborted';

/**
 * Copies bytes both ways between two connected sockets: the local end (the app, or the
 * app's plaintext client) and the peer end (the mesh hop).
 *
 * The hot path, per direction, writes each chunk straight to the other socket and pauses
 * the source when that write reports backpressure ('drain' resumes it): no
 * stream.pipeline, no metric call, no allocation of our own. A socket the proxy dialled
 * itself is read through a ReadPump (Node's `onread`: one reusable buffer, no Readable
 * machinery); an accepted socket, for which Node offers no `onread`, through a 'data'
 * listener. Byte counts are plain numbers the connection tracker reads in batches.
 *
 * Half-close is propagated (both sockets must have allowHalfOpen): a FIN (or TLS
 * close_notify) from one side ends the other side's writable half only, so
 * request-then-FIN protocols and HTTP/1.0 work. When one side closes for an error the
 * other is aborted (TCP RST for plain sockets); when one side closes cleanly, the other is
 * ended and closed once its pending bytes are flushed, or after `lingerMs`.
 */
export class SocketRelay {
  /** The first error either side reported, if any. */
  error: Error | undefined;
  readonly local: Socket;
  readonly peer: Socket;
  #localToPeer = 0;
  #peerToLocal = 0;
  readonly #localPump: ReadPump | undefined;
  readonly #peerPump: ReadPump | undefined;
  #open = 2;
  #firstClosed: 'local' | 'peer' | undefined;
  #aborted = false;
  readonly #onClosed: (relay: SocketRelay) => void;
  readonly #lingerMs: number;

  constructor(local: Socket, peer: Socket, onClosed: (relay: SocketRelay) => void, options: RelayOptions = {}) {
    this.local = local;
    this.peer = peer;
    this.#onClosed = onClosed;
    this.#lingerMs = options.lingerMs ?? 10_000;
    this.#localPump = options.localPump;
    this.#peerPump = options.peerPump;

    const tap = options.tap;
    if (this.#localPump !== undefined) {
      if (tap !== undefined) this.#localPump.tap = (chunk) => tap.fromLocal(chunk);
      this.#localPump.start(local, peer);
    } else {
      const forward = (chunk: Buffer) => {
        this.#localToPeer += chunk.length;
        if (!peer.write(chunk)) local.pause();
      };
      if (tap === undefined) {
        local.on('data', forward);
      } else {
        const tapped = (chunk: Buffer) => {
          if (!tap.fromLocal(chunk)) {
            local.removeListener('data', tapped);
            local.on('data', forward);
          }
          forward(chunk);
        };
        local.on('data', tapped);
      }
      peer.on('drain', () => local.resume());
    }
    if (this.#peerPump !== undefined) {
      if (tap !== undefined) this.#peerPump.tap = (chunk) => tap.fromPeer(chunk);
      this.#peerPump.start(peer, local);
    } else {
      const forward = (chunk: Buffer) => {
        this.#peerToLocal += chunk.length;
        if (!local.write(chunk)) peer.pause();
      };
      if (tap === undefined) {
        peer.on('data', forward);
      } else {
        const tapped = (chunk: Buffer) => {
          if (!tap.fromPeer(chunk)) {
            peer.removeListener('data', tapped);
            peer.on('data', forward);
          }
          forward(chunk);
        };
        peer.on('data', tapped);
      }
      local.on('drain', () => peer.resume());
    }
    local.on('end', () => endWritable(peer));
    peer.on('end', () => endWritable(local));
    const onError = (error: Error) => {
      this.error ??= error;
    };
    local.on('error', onError);
    peer.on('error', onError);
    local.on('close', (hadError: boolean) => this.#closed('local', peer, hadError));
    peer.on('close', (hadError: boolean) => this.#closed('peer', local, hadError));
    // Either may have closed before the relay started (an app that connected and left at
    // once): its 'close' was emitted already, so account for it here.
    if (local.closed) queueMicrotask(() => this.#closed('local', peer, local.errored !== null));
    if (peer.closed) queueMicrotask(() => this.#closed('peer', local, peer.errored !== null));
    local.resume();
    peer.resume();
  }

  /** Payload bytes copied from the local end to the peer. */
  get localToPeer(): number {
    return this.#localPump?.bytes ?? this.#localToPeer;
  }

  /** Payload bytes copied from the peer to the local end. */
  get peerToLocal(): number {
    return this.#peerPump?.bytes ?? this.#peerToLocal;
  }

  /** Why the relay ended: the first end to close, an error, or destroy(). Meaningful once closed. */
  get closeCause(): RelayCloseCause {
    if (this.error !== undefined) return 'error';
    if (this.#aborted) return 'aborted';
    return this.#firstClosed === 'peer' ? 'peer_closed' : 'local_closed';
  }

  /** Closes both ends at once (shutdown past its grace period, or a policy change). */
  destroy(error?: Error): void {
    if (error !== undefined) this.error ??= error;
    else if (this.#open > 0) this.#aborted = true;
    abort(this.local);
    abort(this.peer);
  }

  #closed(side: 'local' | 'peer', other: Socket, hadError: boolean): void {
    this.#firstClosed ??= side;
    if (!other.destroyed) {
      if (hadError || this.error !== undefined) {
        abort(other);
      } else {
        endWritable(other);
        if (!other.writableFinished) {
          const linger = setTimeout(() => other.destroy(), this.#lingerMs);
          linger.unref();
          other.once('close', () => clearTimeout(linger));
          other.once('finish', () => other.destroy());
        } else {
          other.destroy();
        }
      }
    }
    if (--this.#open === 0) this.#onClosed(this);
  }
}

function endWritable(socket: Socket): void {
  if (!socket.destroyed && !socket.writableEnded) socket.end();
}

/** Ends a socket abruptly: a TCP RST for plain sockets so the far end sees a failure, not a clean FIN. */
export function abort(socket: Socket): void {
  if (socket.destroyed) return;
  if (!(socket instanceof TLSSocket) && socket instanceof Socket && !socket.connecting) {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // Not a TCP handle (a pipe in tests): fall through.
    }
  }
  socket.destroy();
}
