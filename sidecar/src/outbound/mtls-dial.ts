import { connect } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { TlsMaterial } from '../identity/tls-identity.js';
import { RESEAL_ALPN, RESEAL_ALPN_WIRE } from '../proxy-core/alpn.js';
import { HANDSHAKE_TIMEOUT_CODE, NO_ALPN_CODE, PROTOCOL_VERSION_CODE, ProxyError } from '../proxy-core/failure-reason.js';
import { expectServerIdentity } from '../proxy-core/peer-identity.js';
import { PROXY_SOCKET_OPTIONS } from '../proxy-core/listen.js';
import type { ReadPump } from '../proxy-core/read-pump.js';
import type { TlsSessionCache } from '../proxy-core/tls-session-cache.js';

export interface MtlsDialOptions {
  readonly host: string;
  readonly port: number;
  /** The SPIFFE ID the server must present (exactly one URI SAN, equal byte for byte). */
  readonly identity: string;
  readonly material: TlsMaterial;
  /** Offers and stores sessions for resumption when given. */
  readonly sessions?: TlsSessionCache;
  /** TCP connect plus handshake. */
  readonly timeoutMs: number;
  /** Reads the connection once the relay starts (its `onread` is installed here). */
  readonly pump?: ReadPump;
}

export interface MtlsDialSuccess {
  readonly socket: TLSSocket;
  /** From TCP connected to handshake done. */
  readonly handshakeSeconds: number;
  readonly resumed: boolean;
}

export interface MtlsDialFailure {
  readonly error: Error;
  /** False when the TCP connection itself failed (refused, unreachable, timed out). */
  readonly connected: boolean;
  /** A stored session was offered (it is dropped from the cache). */
  readonly offeredSession: boolean;
}

/**
 * Opens the mesh hop: TCP to host:port, then TLS 1.3 with ALPN reseal/1 and this
 * workload's certificate, the server's chain verified against the trust bundle and its
 * SPIFFE ID against `identity`. The SecureContext is the material's, shared by every
 * connection. `done` is called exactly once; on failure the socket is already destroyed.
 */
export function dialMtls(
  options: MtlsDialOptions,
  done: (failure: MtlsDialFailure | undefined, success: MtlsDialSuccess | undefined) => void,
): TLSSocket {
  const { host, port, identity, material, sessions } = options;
  const sessionKey = `${host}|${port}|${identity}`;
  const session = sessions?.get(sessionKey, material);
  let connectedAt = 0;
  let finished = false;

  const checkIdentity = expectServerIdentity(identity);
  const connectOptions: ConnectionOptions & typeof PROXY_SOCKET_OPTIONS & { allowHalfOpen: boolean; onread?: ReadPump['onread'] } = {
    ...PROXY_SOCKET_OPTIONS,
    host,
    port,
    secureContext: material.secureContext,
    ALPNProtocols: RESEAL_ALPN_WIRE,
    checkServerIdentity: checkIdentity,
    rejectUnauthorized: true,
    ...(session === undefined ? {} : { session }),
    // allowHalfOpen, onread and the socket options are passed on to the TLSSocket by
    // tls.connect, though its types do not list all of them.
    allowHalfOpen: true,
    ...(options.pump === undefined ? {} : { onread: options.pump.onread }),
  };
  const socket = connect(connectOptions);

  const fail = (error: Error) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    if (session !== undefined) sessions?.delete(sessionKey);
    socket.destroy();
    done({ error, connected: connectedAt !== 0, offeredSession: session !== undefined }, undefined);
  };
  const timer = setTimeout(
    () => fail(new ProxyError(HANDSHAKE_TIMEOUT_CODE, `no TLS session with ${host}:${port} within ${options.timeoutMs} ms`)),
    options.timeoutMs,
  );

  socket.once('connect', () => {
    connectedAt = performance.now();
  });
  if (sessions !== undefined) {
    // TLS 1.3 tickets arrive after the handshake (Node holds one that comes early until
    // the server is verified); keep the newest, valid no longer than the server's certificate.
    socket.on('session', (ticket: Buffer) => {
      if (socket.destroyed) return;
      const certificate = socket.getPeerX509Certificate();
      if (certificate !== undefined) sessions.set(sessionKey, material, ticket, certificate.validToDate.getTime());
    });
  }
  socket.on('error', fail);
  socket.once('close', () => fail(new ProxyError('ECONNRESET', `${host}:${port} closed the connection during the handshake`)));
  socket.once('secureConnect', () => {
    if (finished) return;
    // The SecureContext should allow TLS 1.3 and reseal/1 only; check anyway, so a
    // context built without the mesh options cannot silently downgrade the hop.
    if (socket.getProtocol() !== 'TLSv1.3') {
      fail(new ProxyError(PROTOCOL_VERSION_CODE, `negotiated ${String(socket.getProtocol())}, the mesh requires TLSv1.3`));
      return;
    }
    if (socket.alpnProtocol !== RESEAL_ALPN) {
      fail(new ProxyError(NO_ALPN_CODE, `the server did not select ALPN ${RESEAL_ALPN}`));
      return;
    }
    const resumed = socket.isSessionReused();
    // On resumption Node skips checkServerIdentity and the client has no server
    // certificate to look at. That is safe here: a ticket is only offered to the same
    // host, port and expected identity it was stored under, after a verified full
    // handshake, and only the server holding that SecureContext's ticket keys can accept
    // it; any other server (a pod IP reused by another workload) forces a full handshake.
    finished = true;
    clearTimeout(timer);
    socket.removeListener('error', fail);
    done(undefined, { socket, handshakeSeconds: (performance.now() - connectedAt) / 1000, resumed });
  });
  return socket;
}
