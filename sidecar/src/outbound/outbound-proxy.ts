import { connect as connectTcp, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { TlsIdentitySource } from '../identity/tls-identity.js';
import { connectionClosedFields } from '../proxy-core/connection-log.js';
import { ConnectionTracker } from '../proxy-core/connection-tracker.js';
import type { ProxyConnection } from '../proxy-core/connection-tracker.js';
import { connectFailureReason, errorText, handshakeFailureReason } from '../proxy-core/failure-reason.js';
import { PROXY_SOCKET_OPTIONS, listenOn } from '../proxy-core/listen.js';
import { ReadPump } from '../proxy-core/read-pump.js';
import { SocketRelay, abort } from '../proxy-core/socket-relay.js';
import { TlsSessionCache } from '../proxy-core/tls-session-cache.js';
import type { HttpTelemetry } from '../telemetry/http-telemetry.js';
import type { ConnectionLabels, Destination, FailureLabels, ProxyMetrics } from '../telemetry/proxy-metrics.js';
import { UNKNOWN_PEER } from '../telemetry/proxy-metrics.js';
import { dialMtls } from './mtls-dial.js';
import type { OutboundRoute, OutboundRouter } from './outbound-route.js';
import { TargetLoad } from './target-balancer.js';

export interface OutboundProxyOptions {
  /** Decides each connection's destination: meshRouter() in a pod, staticRouter() in explicit mode. */
  readonly router: OutboundRouter;
  readonly identity: TlsIdentitySource;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /** HTTP awareness (request metrics, spans); undefined: every connection is opaque TCP. */
  readonly http?: HttpTelemetry | undefined;
  /** TCP connect plus TLS handshake to the peer, ms. Default 10 000. */
  readonly connectTimeoutMs?: number;
  /** Offer TLS sessions for resumption (per destination, identity and local certificate). Default true. */
  readonly sessionResumption?: boolean;
  /** How often byte counters of long-lived connections are reported, ms. Default 10 000. */
  readonly metricsFlushIntervalMs?: number;
}

/**
 * The outbound side (15001): plaintext from the app in, mutual TLS to the peer sidecar out
 * (or plain TCP to an unmeshed destination). One instance serves one listening socket.
 */
export class OutboundProxy {
  readonly server: Server;
  readonly #options: OutboundProxyOptions;
  readonly #log: Logger;
  readonly #tracker: ConnectionTracker;
  readonly #load = new TargetLoad();
  readonly #sessions: TlsSessionCache | undefined;
  readonly #connectTimeoutMs: number;
  readonly #unsubscribe: () => void;

  constructor(options: OutboundProxyOptions) {
    this.#options = options;
    this.#log = options.logger.child({ direction: 'outbound', local: options.metrics.localIdentity });
    this.#tracker = new ConnectionTracker(options.metrics, options.metricsFlushIntervalMs);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#sessions = options.sessionResumption === false ? undefined : new TlsSessionCache();
    // A new certificate or trust bundle: the next connections do full handshakes.
    this.#unsubscribe = options.identity.onChange(() => this.#sessions?.clear());
    // The app's bytes wait in the kernel until the upstream is ready.
    this.server = createServer({ ...PROXY_SOCKET_OPTIONS, allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.#accept(socket));
    this.server.on('error', (error) => this.#log.error({ err: errorText(error) }, 'outbound listener error'));
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(port: number, host?: string): Promise<AddressInfo> {
    return listenOn(this.server, port, host);
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  get openConnections(): number {
    return this.#tracker.size;
  }

  /** Stops accepting, lets open connections finish for up to `graceMs`, then aborts the rest. */
  async close(graceMs = 0): Promise<void> {
    this.#unsubscribe();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.#tracker.drain(graceMs);
    await closed;
  }

  #accept(app: Socket): void {
    const connection = this.#tracker.add(app);
    // Until the relay owns it: a client that leaves during the dial ends the attempt.
    const onEarlyError = () => {};
    const onEarlyClose = () => {
      if (connection.relay !== undefined) return;
      for (const socket of connection.sockets) abort(socket);
      this.#tracker.remove(connection);
    };
    app.on('error', onEarlyError);
    app.once('close', onEarlyClose);

    let route: OutboundRoute;
    try {
      route = this.#options.router.route(app, this.#load);
    } catch (error) {
      route = { kind: 'fail', reason: 'io_error', detail: errorText(error) };
    }
    switch (route.kind) {
      case 'mtls':
        this.#dialMtls(connection, app, route);
        return;
      case 'passthrough':
        this.#dialPlain(connection, app, route);
        return;
      case 'deny':
        this.#options.metrics.policyDenied({ direction: 'outbound', destination: route.destination }, route.reason);
        this.#log.warn(
          { event: 'policy_denied', reason: route.reason, peer: UNKNOWN_PEER, tls: 'plaintext', ...destinationFields(route.destination), detail: route.detail },
          'outbound connection refused by policy',
        );
        abort(app);
        return;
      case 'fail':
        // No destination label: these are refused before a pod is chosen (no endpoint, not synced, not redirected).
        this.#options.metrics.connectionFailed({ direction: 'outbound' }, route.reason);
        this.#log.warn({ event: 'connection_failed', reason: route.reason, detail: route.detail }, 'outbound connection not forwarded');
        abort(app);
        return;
    }
  }

  #dialMtls(connection: ProxyConnection, app: Socket, route: Extract<OutboundRoute, { kind: 'mtls' }>): void {
    const { metrics } = this.#options;
    const material = this.#options.identity.current();
    if (material === undefined) {
      metrics.handshakeFailed(mtlsFailure(route), 'no_local_certificate');
      this.#log.warn(
        { event: 'handshake_failed', reason: 'no_local_certificate', peer: route.identity, tls: 'mtls', dst: `${route.host}:${route.port}`, ...destinationFields(route.destination) },
        'outbound connection refused: no certificate yet',
      );
      abort(app);
      return;
    }
    this.#load.acquire(route.host, route.port);
    const pump = new ReadPump();
    const upstream = dialMtls(
      { host: route.host, port: route.port, identity: route.identity, material, sessions: this.#sessions, timeoutMs: this.#connectTimeoutMs, pump },
      (failure, success) => {
        if (failure !== undefined || success === undefined) {
          this.#load.release(route.host, route.port);
          if (app.destroyed) return; // the app left first: nothing failed
          const error = failure?.error;
          const connectFailed = failure?.connected === false;
          const reason = connectFailed ? connectFailureReason(error) : handshakeFailureReason(error);
          if (connectFailed) {
            metrics.connectionFailed(mtlsFailure(route), connectFailureReason(error));
          } else {
            metrics.handshakeFailed(mtlsFailure(route), handshakeFailureReason(error));
          }
          this.#log.warn(
            {
              event: connectFailed ? 'connection_failed' : 'handshake_failed',
              reason,
              peer: route.identity,
              tls: 'mtls',
              dst: `${route.host}:${route.port}`,
              ...destinationFields(route.destination),
              err: errorText(error),
              resumption: failure?.offeredSession,
            },
            connectFailed ? 'outbound connect failed' : 'outbound mTLS handshake failed',
          );
          abort(app);
          return;
        }
        metrics.handshakeCompleted('outbound', success.handshakeSeconds);
        if (app.destroyed) {
          this.#load.release(route.host, route.port);
          success.socket.destroy();
          return;
        }
        const labels = metrics.connectionLabels('outbound', route.identity, 'mtls', route.destination);
        this.#startRelay(connection, app, success.socket, labels, pump, route, route.identity, () => this.#load.release(route.host, route.port));
        this.#log.debug({ event: 'connection_opened', dst: `${route.host}:${route.port}`, peer: route.identity, tls: 'mtls', resumed: success.resumed }, 'outbound mTLS connection');
      },
    );
    connection.sockets.push(upstream);
  }

  #dialPlain(connection: ProxyConnection, app: Socket, route: Extract<OutboundRoute, { kind: 'passthrough' }>): void {
    const { metrics } = this.#options;
    const pump = new ReadPump();
    const upstream = connectTcp({ ...PROXY_SOCKET_OPTIONS, host: route.host, port: route.port, allowHalfOpen: true, onread: pump.onread });
    connection.sockets.push(upstream);
    const timer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), this.#connectTimeoutMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      if (app.destroyed) return;
      metrics.connectionFailed({ direction: 'outbound', destination: route.destination }, connectFailureReason(error));
      this.#log.warn(
        { event: 'connection_failed', reason: connectFailureReason(error), tls: 'plaintext', dst: `${route.host}:${route.port}`, ...destinationFields(route.destination), err: errorText(error) },
        'outbound passthrough connect failed',
      );
      abort(app);
    };
    upstream.once('error', onError);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.removeListener('error', onError);
      if (app.destroyed) {
        upstream.destroy();
        return;
      }
      this.#startRelay(connection, app, upstream, metrics.connectionLabels('outbound', UNKNOWN_PEER, 'plaintext', route.destination), pump, route, undefined, () => {});
      this.#log.debug({ event: 'connection_opened', dst: `${route.host}:${route.port}`, tls: 'plaintext' }, 'outbound plaintext passthrough');
    });
  }

  #startRelay(
    connection: ProxyConnection,
    app: Socket,
    upstream: Socket,
    labels: ConnectionLabels,
    upstreamPump: ReadPump,
    route: { readonly host: string; readonly port: number },
    peer: string | undefined,
    onClosed: () => void,
  ): void {
    const { metrics, http } = this.#options;
    metrics.connectionOpened(labels);
    connection.labels = labels;
    const observer = http?.observe({ labels, port: route.port, peerAddress: route.host });
    connection.relay = new SocketRelay(
      app,
      upstream,
      (relay) => {
        metrics.connectionClosed(labels, connection.age());
        this.#tracker.remove(connection);
        onClosed();
        observer?.close();
        this.#log.info(
          { ...connectionClosedFields(connection, relay, labels, peer, observer, http === undefined ? undefined : 'opaque_port'), dst: `${route.host}:${route.port}` },
          'outbound connection closed',
        );
      },
      { peerPump: upstreamPump, ...(observer === undefined ? {} : { tap: observer }) },
    );
  }
}

/** The failure labels of an mTLS dial, built only when it fails: the peer is the identity the destination must prove. */
function mtlsFailure(route: Extract<OutboundRoute, { kind: 'mtls' }>): FailureLabels {
  return { direction: 'outbound', peerIdentity: route.identity, destination: route.destination };
}

function destinationFields(destination: Destination | undefined): Record<string, string> {
  return destination === undefined ? {} : { dst_workload: destination.workload, dst_namespace: destination.namespace };
}
