import * as grpc from '@grpc/grpc-js';
import { discoveryClientConstructor, type DiscoveryClient as GrpcDiscoveryClient, type WatchResponse } from '@reseal/core';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from './backoff.js';
import { channelCredentialsOf, type CredentialsSource } from './discovery-credentials.js';
import { MeshState, type MeshStateChange } from './mesh-state.js';

export interface DiscoveryClientOptions {
  /** host:port of the control plane, e.g. reseal-control-plane.reseal-system.svc:15012. */
  address: string;
  /** Name the control plane's certificate must carry when `address` is not it (e.g. an IP). */
  serverName?: string;
  /** The pod this sidecar runs in (downward API); the control plane checks it is the caller's. */
  pod: { namespace: string; name: string; ip?: string };
  credentials: CredentialsSource;
  logger: Logger;
  backoff?: BackoffOptions;
  /** HTTP/2 pings that notice a control plane gone without a FIN. */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  maxReceiveMessageBytes?: number;
}

/**
 * Watches Discovery and keeps `state` (the proxy's MeshView) current. Reconnects with jittered
 * exponential backoff, reading fresh credentials each time; while disconnected the last state
 * keeps answering, so a control-plane restart does not disturb traffic.
 */
export class DiscoveryClient {
  readonly state = new MeshState();
  private readonly backoff: Backoff;
  private readonly listeners = new Set<(change: MeshStateChange) => void>();
  private client: GrpcDiscoveryClient | undefined;
  private call: grpc.ClientReadableStream<WatchResponse> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private connectedValue = false;
  private failures = 0;

  constructor(private readonly options: DiscoveryClientOptions) {
    this.backoff = new Backoff(options.backoff);
  }

  /** True while a stream is open and has delivered its snapshot. */
  get connected(): boolean {
    return this.connectedValue;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.call?.cancel();
    this.client?.close();
    this.connectedValue = false;
  }

  /** Every applied message; the proxy reloads its TLS roots on `trustBundlePem`. */
  onChange(listener: (change: MeshStateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves at the first snapshot; rejects after `timeoutMs` if given. */
  whenSynced(timeoutMs?: number): Promise<void> {
    if (this.state.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        off();
        reject(new Error(`discovery not synced after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onChange(() => {
        if (!this.state.synced) return;
        if (timer) clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let credentials;
    try {
      credentials = await this.options.credentials();
    } catch (error) {
      this.retry(`credentials unavailable: ${(error as Error).message}`);
      return;
    }
    if (this.stopped) return;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.keepalive_time_ms': this.options.keepaliveTimeMs ?? 30_000,
      'grpc.keepalive_timeout_ms': this.options.keepaliveTimeoutMs ?? 10_000,
      'grpc.max_receive_message_length': this.options.maxReceiveMessageBytes ?? 64 * 1024 * 1024,
      // Reconnection is ours (with fresh credentials); a channel per attempt.
      'grpc.use_local_subchannel_pool': 1,
      ...(this.options.serverName ? { 'grpc.ssl_target_name_override': this.options.serverName } : {}),
    };
    let client: GrpcDiscoveryClient;
    try {
      const Client = discoveryClientConstructor();
      client = new Client(this.options.address, channelCredentialsOf(credentials), channelOptions);
    } catch (error) {
      this.retry(`cannot set up the channel: ${(error as Error).message}`);
      return;
    }
    const metadata = new grpc.Metadata();
    if (credentials.bearerToken) metadata.set('authorization', `Bearer ${credentials.bearerToken}`);
    const { pod } = this.options;
    const call = client.watch({ podNamespace: pod.namespace, podName: pod.name, podIp: pod.ip ?? '' }, metadata);
    this.client = client;
    this.call = call;

    call.on('data', (message: WatchResponse) => {
      let change: MeshStateChange;
      try {
        change = this.state.apply(message);
      } catch (error) {
        this.options.logger.error({ event: 'discovery_message_invalid', err: error }, 'discovery message could not be applied; resubscribing');
        call.cancel();
        return;
      }
      if (change.fullSnapshot) {
        this.backoff.reset();
        this.failures = 0;
        if (!this.connectedValue) {
          this.connectedValue = true;
          this.options.logger.info({ event: 'discovery_connected', address: this.options.address, version: change.version, ...this.state.counts() }, 'discovery snapshot received');
        }
      }
      for (const listener of this.listeners) listener(change);
    });
    // The final outcome arrives as 'status'; 'error' repeats it for non-OK codes.
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => {
      if (this.call !== call) return;
      this.call = undefined;
      this.client = undefined;
      client.close();
      const wasConnected = this.connectedValue;
      this.connectedValue = false;
      if (this.stopped) return;
      const denied = status.code === grpc.status.PERMISSION_DENIED || status.code === grpc.status.UNAUTHENTICATED;
      if (wasConnected) {
        this.options.logger.warn({ event: 'discovery_disconnected', code: grpc.status[status.code], details: status.details }, 'discovery stream ended; keeping the last state and reconnecting');
      }
      this.retry(`${grpc.status[status.code]}: ${status.details}`, denied);
    });
  }

  private retry(reason: string, denied = false): void {
    if (this.stopped) return;
    this.failures++;
    const delayMs = this.backoff.next();
    const entry = { event: 'discovery_retry', reason, failures: this.failures, retryInMs: delayMs, synced: this.state.synced };
    // Refusals need an operator; plain unavailability is routine during a control-plane rollout.
    if (denied) this.options.logger.error(entry, 'discovery refused this sidecar; retrying');
    else if (this.failures === 1 || this.failures % 10 === 0) this.options.logger.warn(entry, 'discovery unavailable; retrying');
    else this.options.logger.debug(entry, 'discovery unavailable; retrying');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, delayMs);
    this.timer.unref();
  }
}
