import { createTelemetry, startAdminServer, type AdminServer, type Telemetry, type TelemetryOptions } from '@reseal/core';
import type { Logger } from 'pino';
import type { InjectorConfig } from './config.js';
import { InjectorMetrics } from './injector-metrics.js';
import { fixedTrustRoot, watchTrustBundle, type TrustRootSource } from './trust-root-source.js';
import { startWebhookServer, type WebhookServer } from './webhook-server.js';

export interface RunningInjector {
  readonly webhook: WebhookServer;
  readonly admin: AdminServer;
  readonly telemetry: Telemetry;
  stop(): Promise<void>;
}

/** The webhook, its admin port and the trust-bundle watch, wired from a parsed config. */
export async function startInjector(config: InjectorConfig, deps: { logger: Logger; telemetry?: Telemetry; telemetryOptions?: TelemetryOptions }): Promise<RunningInjector> {
  // OTLP push too when main.ts found OTEL_EXPORTER_OTLP_ENDPOINT; Prometheus on the admin port always.
  const telemetry = deps.telemetry ?? createTelemetry('reseal-injector', deps.telemetryOptions);
  const metrics = new InjectorMetrics(telemetry.meter);
  const trustRoot: TrustRootSource = config.trustBundleFile
    ? await watchTrustBundle(config.trustBundleFile, config.reloadIntervalMs, deps.logger)
    : fixedTrustRoot(config.mesh.trustRootHash);
  const webhook = await startWebhookServer({
    host: config.listenHost,
    port: config.webhookPort,
    tls: { ...config.tls, reloadIntervalMs: config.reloadIntervalMs },
    settings: () => ({ ...config.mesh, trustRootHash: trustRoot.hash() }),
    logger: deps.logger,
    metrics,
    maxBodyBytes: config.maxBodyBytes,
  }).catch((error: unknown) => {
    trustRoot.stop();
    throw error;
  });
  const admin = await startAdminServer({ host: config.listenHost, port: config.adminPort, ready: webhook.ready, metricsHandler: telemetry.metricsHandler }).catch(async (error: unknown) => {
    trustRoot.stop();
    await webhook.stop(0);
    throw error;
  });
  return {
    webhook,
    admin,
    telemetry,
    stop: async () => {
      trustRoot.stop();
      await webhook.stop();
      await admin.stop();
      if (!deps.telemetry) await telemetry.shutdown();
    },
  };
}
