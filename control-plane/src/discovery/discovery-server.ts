import * as grpc from '@grpc/grpc-js';
import { discoveryServiceDefinition, type DiscoveryHandlers, type WatchRequest, type WatchResponse } from '@reseal/core';
import type { Logger } from 'pino';
import type { AuthenticatedCaller } from '../identity/caller.js';
import type { ServiceRegistration } from '../identity/identity-server.js';
import type { DiscoveryHub } from './discovery-hub.js';
import { DiscoveryError } from './discovery-errors.js';
import type { PodRecord } from './mesh-records.js';
import type { MeshModel } from './mesh-model.js';
import type { WatchAuthenticator } from './watch-authenticator.js';
import { authorizeWatch } from './watch-authorizer.js';
import type { WatchSink } from './watch-subscriber.js';

const BEARER = /^Bearer\s+(\S+)$/i;
const MAX_NAME = 253;

export interface DiscoveryServiceDeps {
  hub: DiscoveryHub;
  model: MeshModel;
  authenticator: WatchAuthenticator;
  logger: Logger;
  /** How long a Watch waits for the first full listing of the cluster. */
  syncTimeoutMs?: number;
  /** How long a Watch waits for its pod to reach the informer cache (a sidecar can be quicker). */
  podWaitMs?: number;
}

/** Discovery/Watch for the gRPC server on :15012 (see identity-server.ts). */
export function discoveryService(deps: DiscoveryServiceDeps): ServiceRegistration {
  const implementation: DiscoveryHandlers = {
    watch: (call) => {
      void handleWatch(deps, call);
    },
  };
  return { definition: discoveryServiceDefinition(), implementation };
}

async function handleWatch(deps: DiscoveryServiceDeps, call: grpc.ServerWritableStream<WatchRequest, WatchResponse>): Promise<void> {
  const { hub, model, logger } = deps;
  const started = Date.now();
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
  });
  const request = call.request;
  let caller: AuthenticatedCaller | undefined;
  try {
    const authorization = call.metadata.get('authorization')[0];
    const bearerToken = typeof authorization === 'string' ? BEARER.exec(authorization)?.[1] : undefined;
    const peer = call.getAuthContext()?.sslPeerCertificate;
    caller = await deps.authenticator.authenticate({ bearerToken, peerCertificates: peer?.raw ? [peer.raw] : [] });

    const namespace = text(request.podNamespace);
    const name = text(request.podName);
    const ip = text(request.podIp);
    if (!name && !ip) throw new DiscoveryError(grpc.status.INVALID_ARGUMENT, 'pod_name (or pod_ip) is required', 'invalid_request');
    if (name && !namespace) throw new DiscoveryError(grpc.status.INVALID_ARGUMENT, 'pod_namespace is required with pod_name', 'invalid_request');
    if (namespace.length > MAX_NAME || name.length > MAX_NAME || ip.length > 64) throw new DiscoveryError(grpc.status.INVALID_ARGUMENT, 'pod name, namespace or IP too long', 'invalid_request');

    if (!(await hub.whenSynced(deps.syncTimeoutMs ?? 10_000))) {
      throw new DiscoveryError(grpc.status.UNAVAILABLE, 'discovery has not listed the cluster yet; retry', 'not_synced');
    }
    const requested = name ? `${namespace}/${name}` : `with IP ${ip}`;
    const pod = await waitForPod(model, namespace, name, ip, deps.podWaitMs ?? 5000, () => cancelled);
    const decision = authorizeWatch(caller, requested, pod);
    if (!decision.allowed) throw new DiscoveryError(grpc.status.PERMISSION_DENIED, decision.message, decision.reason);
    if (cancelled) return;

    const target = { namespace: pod!.namespace, name: pod!.name, uid: pod!.uid };
    const subscriber = hub.subscribe(target, grpcSink(call), (reason, closed) => {
      logger.info(
        {
          event: 'discovery_watch_ended',
          namespace: target.namespace,
          pod: target.name,
          reason,
          durationMs: Date.now() - started,
          messages: closed.messagesSent,
          snapshots: closed.snapshotsSent,
        },
        'discovery watcher disconnected',
      );
    });
    if (!subscriber) throw new DiscoveryError(grpc.status.UNAVAILABLE, 'discovery is shutting down or the pod is gone; retry', 'unavailable');
    if (cancelled) subscriber.close('cancelled');
    else call.on('cancelled', () => subscriber.close('cancelled'));
    logger.info(
      {
        event: 'discovery_watch_started',
        namespace: target.namespace,
        pod: target.name,
        serviceAccount: caller.serviceAccount,
        auth: caller.method,
        peer: call.getPeer(),
        subscribers: hub.subscriberCount,
      },
      'discovery watcher connected',
    );
  } catch (error) {
    const refusal =
      error instanceof DiscoveryError
        ? error
        : new DiscoveryError(grpc.status.INTERNAL, 'internal error while starting the watch', 'internal');
    const log = refusal.code === grpc.status.INTERNAL ? logger.error.bind(logger) : logger.warn.bind(logger);
    log(
      {
        event: 'discovery_watch_refused',
        reason: refusal.reason,
        code: grpc.status[refusal.code],
        message: refusal.message,
        namespace: request.podNamespace,
        pod: request.podName,
        serviceAccount: caller ? `${caller.namespace}/${caller.serviceAccount}` : undefined,
        peer: call.getPeer(),
        ...(refusal === error ? {} : { err: error }),
      },
      'discovery watch refused',
    );
    if (!cancelled) call.emit('error', { code: refusal.code, details: refusal.message });
  }
}

function grpcSink(call: grpc.ServerWritableStream<WatchRequest, WatchResponse>): WatchSink {
  return {
    write: (message, done) => {
      call.write(message, (error: Error | null | undefined) => done(error));
    },
    end: (reason) => {
      // Emitting 'error' is how grpc-js ends a server stream with a status; UNAVAILABLE tells
      // the sidecar to reconnect and resnapshot.
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: reason === 'shutdown' ? 'control plane shutting down' : `watch ended: ${reason}` });
    },
  };
}

async function waitForPod(model: MeshModel, namespace: string, name: string, ip: string, waitMs: number, cancelled: () => boolean): Promise<PodRecord | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const pod = name ? model.pod(namespace, name) : model.podByIp(ip);
    if (pod || Date.now() >= deadline || cancelled()) return pod;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
