import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

export interface Telemetry {
  readonly meter: Meter;
  /** Serves Prometheus text; each component mounts it as /metrics on its admin port. */
  metricsHandler(request: IncomingMessage, response: ServerResponse): void;
  shutdown(): Promise<void>;
}

/**
 * One MeterProvider per process. Prometheus is pulled from the component's own admin port
 * rather than from the exporter's server, so no component opens a port beyond the contract's.
 */
export function createTelemetry(serviceName: string): Telemetry {
  // Scope labels would add a constant label to every series and break label-exact queries.
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({ readers: [exporter], resource: resourceFromAttributes({ 'service.name': serviceName }) });
  return {
    meter: provider.getMeter(serviceName),
    metricsHandler: (request, response) => exporter.getMetricsRequestHandler(request, response),
    shutdown: () => provider.shutdown(),
  };
}
