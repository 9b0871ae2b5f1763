import { readFileSync } from 'node:fs';
import { createTelemetry } from '@reseal/core';
import type { Logger } from 'pino';
import { AdminServer } from './admin/admin-server.js';
import { parseAppProbes } from './admin/app-probes.js';
import { originalDestination } from './capture/original-destination.js';
import { readJsonFile, type ProxyConfig } from './config.js';
import { DiscoveryClient } from './discovery-client/index.js';
import { parseExplicitConfig, startExplicitListeners } from './explicit/index.js';
import { TrustBundleWatcher } from './identity/trust-bundle-watcher.js';
import { WorkloadIdentity } from './identity/workload-identity.js';
import { InboundProxy, type InboundConnectionEvent } from './inbound/index.js';
import { meshRouter, OutboundProxy } from './outbound/index.js';
import { registerIdentityMetrics } from './telemetry/identity-metrics.js';
import { HttpDurationHistograms, HttpTelemetry } from './telemetry/http-telemetry.js';
import { createProxyMetrics } from './telemetry/proxy-metrics.js';

export interface RunningProxy {
  readonly adminPort: number;
  readonly identity: WorkloadIdentity;
  /** Stop accepting, let open connections finish for up to `graceMs`, then release everything. */
  stop(graceMs: number): Promise<void>;
}

/**
 * reseal-proxy: admin first (so /ready says 503 while waiting), then the workload's
 * certificate, then discovery, then the listeners. Transparent mode serves the iptables
 * capture ports; explicit mode serves the static listeners of a file.
 */
export async function startProxy(config: ProxyConfig, logger: Logger, onInbound?: (event: InboundConnectionEvent) => void): Promise<RunningProxy> {
  const httpDurations = new HttpDurationHistograms();
  const telemetry = createTelemetry('reseal-proxy', config.telemetry, { metricProducers: [httpDurations] });
  // The destination of inbound connections is this pod's workload, as discovery names it
  // (the pod's own endpoint); until discovery knows, the namespace at least.
  let localEndpoint: (() => { workload: string; namespace: string } | undefined) | undefined;
  const metrics = createProxyMetrics(telemetry.meter, {
    localIdentity: config.spiffeId,
    localWorkload: () => localEndpoint?.() ?? { workload: '', namespace: config.pod.namespace },
  });
  const http = new HttpTelemetry(httpDurations, metrics, { opaquePorts: config.opaquePorts, tracer: telemetry.tracer });
  const bundleWatcher = config.trustBundleFile ? new TrustBundleWatcher({ path: config.trustBundleFile, logger }) : undefined;
  await bundleWatcher?.start();
  const identity = new WorkloadIdentity({
    spiffeId: config.spiffeId,
    controlPlaneAddress: config.controlPlane.address,
    controlPlaneServerName: config.controlPlane.serverName,
    tokenPath: config.tokenFile,
    ttlSeconds: config.certTtlSeconds,
    trustBundle: bundleWatcher,
    renewal: { fraction: config.renewFraction },
    logger,
  });
  const unregisterIdentityMetrics = registerIdentityMetrics(telemetry.meter, identity);

  let discovery: DiscoveryClient | undefined;
  if (config.mode.kind === 'transparent') {
    discovery = new DiscoveryClient({
      address: config.controlPlane.address,
      serverName: config.controlPlane.serverName,
      pod: { namespace: config.pod.namespace, name: config.pod.name, ...(config.pod.ip ? { ip: config.pod.ip } : {}) },
      credentials: () => {
        const material = identity.current();
        return {
          trustBundlePem: material?.trustBundlePem ?? bundleWatcher?.current()?.pem ?? '',
          clientCertificate: material ? { secureContext: material.secureContext } : undefined,
          bearerToken: readToken(config.tokenFile),
        };
      },
      logger,
    });
    const state = discovery.state;
    localEndpoint = () => {
      const self = config.pod.ip ? state.endpoint(config.pod.ip) : undefined;
      return self === undefined || self.workload === '' ? undefined : { workload: self.workload, namespace: self.namespace };
    };
  }
  const admin = new AdminServer({
    logger,
    identity,
    mesh: discovery?.state ?? { synced: true },
    metricsHandler: telemetry.metricsHandler,
    appProbes: parseAppProbes(config.appProbes),
    port: config.ports.admin,
    host: config.adminHost,
  });
  const adminPort = await admin.start();
  await identity.start();
  discovery?.start();

  const closers: ((graceMs: number) => Promise<void>)[] = [];
  if (config.mode.kind === 'transparent' && discovery) {
    const outbound = new OutboundProxy({
      router: meshRouter({ meshView: discovery.state, resolveOriginalDestination: originalDestination, unmeshed: config.unmeshedOutbound }),
      identity,
      metrics,
      http,
      logger,
    });
    // Only the app's redirected connections come here; a remote peer never should.
    await outbound.listen(config.ports.outbound, '127.0.0.1');
    closers.push((grace) => outbound.close(grace));
    if (config.mode.injectMode === 'full') {
      const inbound = new InboundProxy({
        policy: discovery.state,
        identity,
        metrics,
        http,
        logger,
        resolveOriginalDestination: originalDestination,
        ...(onInbound ? { onConnection: onInbound } : {}),
      });
      await inbound.listen(config.ports.inbound, '0.0.0.0');
      closers.push((grace) => inbound.close(grace));
    }
  } else if (config.mode.kind === 'explicit') {
    const explicit = await startExplicitListeners(parseExplicitConfig(readJsonFile(config.mode.configFile, 'explicit listener config')), {
      identity,
      metrics,
      http,
      logger,
      ...(onInbound ? { onInboundConnection: onInbound } : {}),
    });
    closers.push((grace) => explicit.close(grace));
  }
  logger.info({ event: 'proxy_started', spiffeId: config.spiffeId, mode: config.mode.kind, adminPort }, 'reseal-proxy started');

  return {
    adminPort,
    identity,
    stop: async (graceMs) => {
      admin.setDraining(true);
      await Promise.all(closers.map((close) => close(graceMs)));
      discovery?.stop();
      identity.stop();
      bundleWatcher?.stop();
      unregisterIdentityMetrics();
      await admin.stop();
      await telemetry.shutdown();
    },
  };
}

/** Kubelet refreshes the projected token file; read it at every use. */
function readToken(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
