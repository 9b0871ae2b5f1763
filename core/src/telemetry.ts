import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Meter, Tracer } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { IMetricReader, MetricProducer } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { otlpSignalUrl, type TelemetryOptions } from './telemetry-options.js';

export { TelemetryOptionsError, otlpSignalUrl, telemetryOptionsFromEnv, type TelemetryOptions } from './telemetry-options.js';

export interface Telemetry {
  readonly meter: Meter;
  /** Present only when an OTLP endpoint is configured: without one, no span is ever created. */
  readonly tracer: Tracer | undefined;
  /** Serves Prometheus text; each component mounts it as /metrics on its admin port. */
  metricsHandler(request: IncomingMessage, response: ServerResponse): void;
  /** Pushes pending metrics and spans over OTLP now (no-op without an endpoint). */
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Metrics a component aggregates itself, exported beside the SDK's own instruments. */
export interface TelemetrySources {
  /** Each reader (Prometheus and OTLP) collects these too; they must report cumulative data. */
  readonly metricProducers?: readonly MetricProducer[];
}

/**
 * One MeterProvider (and, with OTLP, one TracerProvider) per process. Prometheus is pulled
 * from the component's own admin port rather than from the exporter's server, so no
 * component opens a port beyond the contract's; with `otlpEndpoint` the same instruments
 * are also pushed periodically over OTLP/HTTP (JSON), and spans exported in batches.
 */
export function createTelemetry(serviceName: string, options: TelemetryOptions = {}, sources: TelemetrySources = {}): Telemetry {
  const metricProducers = sources.metricProducers === undefined ? undefined : [...sources.metricProducers];
  // Scope labels would add a constant label to every series and break label-exact queries.
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, ...(metricProducers ? { metricProducers } : {}) });
  const resource = resourceFromAttributes({ 'service.name': serviceName, ...options.resourceAttributes });
  const readers: IMetricReader[] = [exporter];
  let tracerProvider: TracerProvider | undefined;
  if (options.otlpEndpoint !== undefined) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: otlpSignalUrl(options.otlpEndpoint, 'metrics') }),
        exportIntervalMillis: options.metricExportIntervalMs ?? 15_000,
        ...(metricProducers ? { metricProducers } : {}),
      }),
    );
    tracerProvider = new TracerProvider({
      resource,
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: otlpSignalUrl(options.otlpEndpoint, 'traces') }),
          scheduledDelayMillis: options.spanExportDelayMs ?? 2_000,
        }),
      ],
    });
  }
  const provider = new MeterProvider({ readers, resource });
  return {
    meter: provider.getMeter(serviceName),
    tracer: tracerProvider?.getTracer(serviceName),
    metricsHandler: (request, response) => exporter.getMetricsRequestHandler(request, response),
    forceFlush: async () => {
      await Promise.all([provider.forceFlush(), tracerProvider?.forceFlush()]);
    },
    shutdown: async () => {
      await Promise.all([provider.shutdown(), tracerProvider?.shutdown()]);
    },
  };
}
