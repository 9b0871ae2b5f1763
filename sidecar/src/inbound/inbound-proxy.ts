import { connect as connectTcp, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { TlsIdentitySource } from '../identity/tls-identity.js';
import type { MtlsMode } from '../mesh-view.js';
import { RESEAL_ALPN, RESEAL_ALPN_WIRE } from '../proxy-core/alpn.js';
import { connectionClosedFields } from '../proxy-core/connection-log.js';
import { ConnectionTracker } from '../proxy-core/connection-tracker.js';
import type { ProxyConnection } from '../proxy-core/connection-tracker.js';
import { connectFailureReason, errorText, handshakeFailureReason } from '../proxy-core/failure-reason.js';
import type { HandshakeFailureReason } from '../proxy-core/failure-reason.js';
import { PROXY_SOCKET_OPTIONS, listenOn } from '../proxy-core/listen.js';
import { ensureSessionIdContext } from '../proxy-core/mesh-tls-context.js';
import { verifiedClientIdentity } from '../proxy-core/peer-identity.js';
import { ReadPump } from '../proxy-core/read-pump.js';
import { SocketRelay, abort } from '../proxy-core/socket-relay.js';
import type { HttpTelemetry } from '../telemetry/http-telemetry.js';
import type { ConnectionLabels, FailureLabels, ProxyMetrics, ProxyTls } from '../telemetry/proxy-metrics.js';
import { UNKNOWN_PEER } from '../telemetry/proxy-metrics.js';
import { MAX_FIRST_BYTES, classifyFirstBytes } from './first-bytes.js';
import type { FirstBytesKind } from './first-bytes.js';
import { RecentPeers } from './recent-peers.js';
import type { InboundPeerRecord } from './recent-peers.js';

const MAX_PEERS_LOGGED = 1024;
/** Failure labels before a client identity is verified: peer unknown, destination this pod's workload. */
const UNVERIFIED_INBOUND: FailureLabels = Object.freeze({ direction: 'inbound' });

/** What inbound needs from discovery: the MeshView satisfies it. */
export interface InboundPolicy {
  mtlsMode(): MtlsMode;
  allowsInbound(port: number, clientIdentity: string): boolean;
}

export interface InboundConnectionEvent {
  /** The verified client SPIFFE ID; undefined for a plaintext client (PERMISSIVE only). */
  readonly clientIdentity: string | undefined;
  /** The app port the bytes go to. */
  readonly port: number;
  readonly tls: ProxyTls;
  readonly remoteAddress: string;
}

export interface InboundProxyOptions {
  readonly policy: InboundPolicy;
  readonly identity: TlsIdentitySource;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /** HTTP awareness (request metrics, spans); undefined: every connection is opaque TCP. */
  readonly http?: HttpTelemetry | undefined;
  /**
   * Transparent mode: the port the peer dialled before PREROUTING redirected it here
   * (capture/original-destination.ts `originalDestination`); that is the app port.
   */
  readonly resolveOriginalDestination?: (socket: Socket) => { readonly port: number };
  /** Explicit mode: the app port every connection of this listener goes to. */
  readonly appPort?: number;
  /** Where the app listens. Default 127.0.0.1. */
  readonly appHost?: string;
  /** A connection must show what it is (a ClientHello or plaintext) within this. Default 5 000 ms. */
  readonly firstBytesTimeoutMs?: number;
  /** The mutual TLS handshake must be done this long after accept. Default 10 000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Connecting to the app on loopback. Default 5 000 ms. */
  readonly appConnectTimeoutMs?: number;
  /** Called for every connection forwarded to the app, after the policy check. */
  readonly onConnection?: (event: InboundConnectionEvent) => void;
  /** How many recent peers recentPeers() keeps. Default 64. */
  readonly recentPeersCapacity?: number;
  readonly metricsFlushIntervalMs?: number;
}

/**
 * The inbound side (15006): peers' mutual TLS in, plaintext to the app on loopback out.
 *
 * Every connection is classified by its first bytes (see first-bytes.ts), within
 * `firstBytesTimeoutMs`. A ClientHello offering reseal/1 is terminated with the current
 * certificate, the client's chain verified against the trust bundle, TLS 1.3 and ALPN
 * enforced; the client's SPIFFE ID must be allowed on the app port before the app is even
 * dialled. Anything else (plaintext, an app's own TLS) is forwarded untouched only when
 * the mode is PERMISSIVE; in PERMISSIVE a client that sends nothing (a server-speaks-first
 * protocol) is forwarded as plaintext when the timeout passes. Timers are per connection,
 * so garbage, half-open and slow clients cost one timer each and touch no one else.
 */
export class InboundProxy {
  readonly server: Server;
  readonly #options: InboundProxyOptions;
  readonly #log: Logger;
  readonly #tracker: ConnectionTracker;
  readonly #recent: RecentPeers;
  /** Peers whose first connection was logged at info (bounded). */
  readonly #peersLogged = new Set<string>();
  readonly #appHost: string;
  readonly #firstBytesTimeoutMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #appConnectTimeoutMs: number;

  constructor(options: InboundProxyOptions) {
    if ((options.appPort === undefined) === (options.resolveOriginalDestination === undefined)) {
      throw new TypeError('InboundProxy: give exactly one of appPort (explicit mode) and resolveOriginalDestination (transparent mode)');
    }
    this.#options = options;
    this.#log = options.logger.child({ direction: 'inbound', local: options.metrics.localIdentity });
    this.#tracker = new ConnectionTracker(options.metrics, options.metricsFlushIntervalMs);
    this.#recent = new RecentPeers(options.recentPeersCapacity);
    this.#appHost = options.appHost ?? '127.0.0.1';
    this.#firstBytesTimeoutMs = options.firstBytesTimeoutMs ?? 5_000;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.#appConnectTimeoutMs = options.appConnectTimeoutMs ?? 5_000;
    this.server = createServer({ ...PROXY_SOCKET_OPTIONS, allowHalfOpen: true }, (socket) => this.#accept(socket));
    this.server.on('error', (error) => this.#log.error({ err: errorText(error) }, 'inbound listener error'));
  }

  listen(port: number, host?: string): Promise<AddressInfo> {
    return listenOn(this.server, port, host);
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  get openConnections(): number {
    return this.#tracker.size;
  }

  /** The latest accepted peers, newest first (for the admin port's debug page). */
  recentPeers(): InboundPeerRecord[] {
    return this.#recent.snapshot();
  }

  async close(graceMs = 0): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.#tracker.drain(graceMs);
    await closed;
  }

  #accept(socket: Socket): void {
    const connection = this.#tracker.add(socket);
    const acceptedAt = performance.now();
    const remoteAddress = socket.remoteAddress ?? '';
    socket.on('error', () => {});
    socket.once('close', () => {
      if (connection.relay === undefined) this.#tracker.remove(connection);
    });

    let port: number;
    try {
      port = this.#options.appPort ?? this.#options.resolveOriginalDestination!(socket).port;
    } catch (error) {
      this.#options.metrics.connectionFailed(UNVERIFIED_INBOUND, 'no_original_destination');
      this.#log.warn({ remote: remoteAddress, err: errorText(error) }, 'inbound connection without an original destination');
      abort(socket);
      return;
    }

    let buffered: Buffer | undefined;
    const timer = setTimeout(() => {
      socket.removeListener('data', onData);
      if (socket.destroyed) return;
      if (buffered === undefined && this.#options.policy.mtlsMode() === 'PERMISSIVE') {
        // Server-speaks-first protocols (SMTP, MySQL…): nothing to classify, so plaintext.
        this.#plaintext(connection, socket, port, remoteAddress);
        return;
      }
      this.#options.metrics.connectionFailed(UNVERIFIED_INBOUND, 'first_bytes_timeout');
      this.#log.info({ event: 'connection_failed', reason: 'first_bytes_timeout', remote: remoteAddress, port, received: buffered?.length ?? 0 }, 'inbound connection closed: nothing recognisable in time');
      abort(socket);
    }, this.#firstBytesTimeoutMs);
    socket.once('close', () => clearTimeout(timer));

    const onData = (chunk: Buffer) => {
      buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
      let kind: FirstBytesKind = classifyFirstBytes(buffered);
      if (kind === 'need_more') {
        if (buffered.length < MAX_FIRST_BYTES) return;
        kind = 'plaintext';
      }
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.pause();
      socket.unshift(buffered);
      if (kind === 'mesh_tls') {
        this.#terminateTls(connection, socket, port, remoteAddress, acceptedAt);
      } else if (this.#options.policy.mtlsMode() === 'PERMISSIVE') {
        this.#plaintext(connection, socket, port, remoteAddress);
      } else {
        this.#options.metrics.policyDenied(UNVERIFIED_INBOUND, 'plaintext_in_strict');
        this.#log.info(
          { event: 'policy_denied', reason: 'plaintext_in_strict', peer: UNKNOWN_PEER, tls: 'plaintext', remote: remoteAddress, port, kind },
          'inbound connection refused: only mutual TLS is accepted (STRICT)',
        );
        abort(socket);
      }
    };
    socket.on('data', onData);
  }

  #terminateTls(connection: ProxyConnection, socket: Socket, port: number, remoteAddress: string, acceptedAt: number): void {
    const { metrics } = this.#options;
    const material = this.#options.identity.current();
    if (material === undefined) {
      metrics.handshakeFailed(UNVERIFIED_INBOUND, 'no_local_certificate');
      this.#log.warn({ event: 'handshake_failed', reason: 'no_local_certificate', tls: 'mtls', remote: remoteAddress, port }, 'inbound mTLS refused: no certificate yet');
      abort(socket);
      return;
    }
    ensureSessionIdContext(material.secureContext);
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: material.secureContext,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: RESEAL_ALPN_WIRE,
    });
    connection.sockets.push(tls);
    let settled = false;
    const fail = (reason: HandshakeFailureReason, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      metrics.handshakeFailed(UNVERIFIED_INBOUND, reason);
      this.#log.info({ event: 'handshake_failed', tls: 'mtls', remote: remoteAddress, port, reason, detail }, 'inbound mTLS handshake failed');
      tls.destroy();
    };
    const remaining = Math.max(0, this.#handshakeTimeoutMs - (performance.now() - acceptedAt));
    const timer = setTimeout(() => fail('timeout', `no completed handshake ${this.#handshakeTimeoutMs} ms after accept`), remaining);
    tls.on('error', (error: Error) => fail(handshakeFailureReason(error), errorText(error)));
    tls.once('close', () => {
      if (!settled) fail('peer_closed', 'closed during the handshake');
      if (connection.relay === undefined) this.#tracker.remove(connection);
    });
    const handshakeStart = performance.now();
    tls.once('secure', () => {
      if (settled) return;
      if (tls.getProtocol() !== 'TLSv1.3') {
        fail('protocol_version', `negotiated ${String(tls.getProtocol())}, the mesh requires TLSv1.3`);
        return;
      }
      if (tls.alpnProtocol !== RESEAL_ALPN) {
        fail('no_alpn', `the client did not negotiate ALPN ${RESEAL_ALPN}`);
        return;
      }
      const client = verifiedClientIdentity(tls);
      if (!client.ok) {
        fail(client.reason, client.detail);
        return;
      }
      settled = true;
      clearTimeout(timer);
      metrics.handshakeCompleted('inbound', (performance.now() - handshakeStart) / 1000);
      if (!this.#options.policy.allowsInbound(port, client.identity)) {
        metrics.policyDenied({ direction: 'inbound', peerIdentity: client.identity }, 'not_allowed');
        this.#log.warn(
          { event: 'policy_denied', reason: 'not_allowed', client: client.identity, peer: client.identity, tls: 'mtls', remote: remoteAddress, port },
          'inbound connection refused: client identity not allowed on this port',
        );
        tls.destroy();
        return;
      }
      this.#connectApp(connection, tls, port, {
        clientIdentity: client.identity,
        port,
        tls: 'mtls',
        remoteAddress,
      });
    });
  }

  #plaintext(connection: ProxyConnection, socket: Socket, port: number, remoteAddress: string): void {
    this.#connectApp(connection, socket, port, { clientIdentity: undefined, port, tls: 'plaintext', remoteAddress });
  }

  /** Dials the app; the peer's bytes wait (paused) in its socket until the relay starts. */
  #connectApp(connection: ProxyConnection, peer: Socket, port: number, event: InboundConnectionEvent): void {
    const { metrics } = this.#options;
    const pump = new ReadPump();
    const app = connectTcp({ ...PROXY_SOCKET_OPTIONS, host: this.#appHost, port, allowHalfOpen: true, onread: pump.onread });
    connection.sockets.push(app);
    const timer = setTimeout(() => app.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), this.#appConnectTimeoutMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      metrics.connectionFailed({ direction: 'inbound', peerIdentity: event.clientIdentity }, connectFailureReason(error) === 'connect_timeout' ? 'connect_timeout' : 'app_unreachable');
      this.#log.warn(
        { event: 'connection_failed', reason: 'app_unreachable', client: event.clientIdentity, peer: event.clientIdentity, tls: event.tls, remote: event.remoteAddress, port, err: errorText(error) },
        'inbound: the app is not reachable',
      );
      abort(peer);
    };
    app.once('error', onError);
    app.once('connect', () => {
      clearTimeout(timer);
      app.removeListener('error', onError);
      if (peer.destroyed) {
        app.destroy();
        return;
      }
      const labels: ConnectionLabels = metrics.connectionLabels('inbound', event.clientIdentity ?? UNKNOWN_PEER, event.tls);
      metrics.connectionOpened(labels);
      connection.labels = labels;
      const observer = this.#options.http?.observe({ labels, port, peerAddress: event.remoteAddress });
      connection.relay = new SocketRelay(
        app,
        peer,
        (relay) => {
          metrics.connectionClosed(labels, connection.age());
          this.#tracker.remove(connection);
          observer?.close();
          // One line per connection: `client` (the verified SPIFFE ID) as the accept line had it.
          this.#log.info(
            {
              ...connectionClosedFields(connection, relay, labels, event.clientIdentity, observer, this.#options.http === undefined ? undefined : 'opaque_port'),
              client: event.clientIdentity,
              port,
              remote: event.remoteAddress,
            },
            'inbound connection closed',
          );
        },
        { localPump: pump, ...(observer === undefined ? {} : { tap: observer }) },
      );
      this.#recent.record({ ...event, at: new Date().toISOString() });
      // Volume is one line per connection, at close; the first connection of each peer is
      // also logged when it opens (a keep-alive pool may not close for hours).
      const peerKey = `${event.tls}|${event.clientIdentity ?? ''}`;
      const firstFromPeer = !this.#peersLogged.has(peerKey) && this.#peersLogged.size < MAX_PEERS_LOGGED;
      if (firstFromPeer) this.#peersLogged.add(peerKey);
      this.#log[firstFromPeer ? 'info' : 'debug'](
        { event: 'connection_opened', client: event.clientIdentity, peer: event.clientIdentity, port, tls: event.tls, remote: event.remoteAddress, first_from_peer: firstFromPeer },
        'inbound connection',
      );
      this.#options.onConnection?.(event);
    });
  }
}
