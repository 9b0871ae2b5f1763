import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TokenAuthenticator } from '../identity/caller.js';
import type { ServiceRegistration } from '../identity/identity-server.js';
import { DiscoveryHub, type DiscoveryHubOptions } from './discovery-hub.js';
import { discoveryService } from './discovery-server.js';
import { KubernetesMeshSource } from './kubernetes-mesh-source.js';
import { MeshModel } from './mesh-model.js';
import { watchTopologyFile } from './standalone-topology.js';
import { WatchAuthenticator, type MeshTrust } from './watch-authenticator.js';

/** Snapshots can be large; Certify answers stay small. */
export const MAX_DISCOVERY_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface DiscoveryOptions {
  source: { kind: 'kubernetes'; kubeConfig: KubeConfig } | { kind: 'standalone'; topologyFile?: string | undefined };
  trustDomain: string;
  trustBundlePem: string;
  tokens: TokenAuthenticator;
  /** The CA's roots and issuer chain now, for callers that present a mesh certificate. */
  trust: () => MeshTrust;
  logger: Logger;
  hub?: Partial<Omit<DiscoveryHubOptions, 'logger' | 'trustBundlePem'>>;
  podWaitMs?: number;
}

export interface Discovery {
  /** To register on the gRPC server of :15012. */
  readonly service: ServiceRegistration;
  readonly hub: DiscoveryHub;
  readonly model: MeshModel;
  /** Call when the CA's roots change. */
  setTrustBundle(pem: string): void;
  /** Ends every watch and stops watching the cluster. */
  stop(): Promise<void>;
}

/** The Discovery service with its source of truth: the cluster's informers, or a topology file. */
export async function startDiscovery(options: DiscoveryOptions): Promise<Discovery> {
  const { logger } = options;
  const model = new MeshModel(options.trustDomain);
  const hub = new DiscoveryHub(model, { ...options.hub, logger, trustBundlePem: options.trustBundlePem });
  const onChange = (): void => hub.markDirty();
  let stopSource: () => Promise<void> | void;
  if (options.source.kind === 'kubernetes') {
    const source = new KubernetesMeshSource(options.source.kubeConfig, model, { logger, onChange, onSynced: () => hub.markSynced() });
    await source.start();
    stopSource = () => source.stop();
  } else {
    const watcher = options.source.topologyFile ? watchTopologyFile(options.source.topologyFile, model, onChange, logger) : undefined;
    hub.markSynced();
    stopSource = () => watcher?.stop();
  }
  const service = discoveryService({
    hub,
    model,
    authenticator: new WatchAuthenticator(options.tokens, options.trust, options.trustDomain),
    logger,
    ...(options.podWaitMs !== undefined ? { podWaitMs: options.podWaitMs } : {}),
  });
  return {
    service,
    hub,
    model,
    setTrustBundle: (pem) => hub.setTrustBundle(pem),
    stop: async () => {
      hub.close();
      await stopSource();
    },
  };
}
