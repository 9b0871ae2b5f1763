// Where a component's telemetry goes besides its own /metrics, read from the standard
// OpenTelemetry environment variables once at start-up.

export interface TelemetryOptions {
  /**
   * OTLP/HTTP base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://otel-collector:4318):
   * metrics are pushed to <endpoint>/v1/metrics and spans to <endpoint>/v1/traces. Unset:
   * Prometheus only, and no tracer at all (tracing then costs nothing).
   */
  readonly otlpEndpoint?: string | undefined;
  /** How often metrics are pushed over OTLP (OTEL_METRIC_EXPORT_INTERVAL, ms). Default 15 000. */
  readonly metricExportIntervalMs?: number | undefined;
  /** How long a batch of spans may wait before export (OTEL_BSP_SCHEDULE_DELAY, ms). Default 2 000. */
  readonly spanExportDelayMs?: number | undefined;
  /** Extra resource attributes (k8s.pod.name, k8s.namespace.name…). */
  readonly resourceAttributes?: Readonly<Record<string, string>> | undefined;
}

export class TelemetryOptionsError extends Error {
  override readonly name = 'TelemetryOptionsError';
}

/** Reads the OTEL_* variables Reseal honours; throws TelemetryOptionsError on a malformed value. */
export function telemetryOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): TelemetryOptions {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (endpoint) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new TelemetryOptionsError(`OTEL_EXPORTER_OTLP_ENDPOINT is not a URL: "${endpoint}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TelemetryOptionsError(`OTEL_EXPORTER_OTLP_ENDPOINT must be http(s) (OTLP/HTTP), got "${endpoint}"`);
    }
  }
  return {
    otlpEndpoint: endpoint || undefined,
    metricExportIntervalMs: milliseconds(env, 'OTEL_METRIC_EXPORT_INTERVAL'),
    spanExportDelayMs: milliseconds(env, 'OTEL_BSP_SCHEDULE_DELAY'),
  };
}

/** `<endpoint>/v1/<signal>`, as the OTLP/HTTP specification derives per-signal URLs from the base. */
export function otlpSignalUrl(endpoint: string, signal: 'metrics' | 'traces'): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/${signal}`;
}

function milliseconds(env: Readonly<Record<string, string | undefined>>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 10 || n > 3_600_000) throw new TelemetryOptionsError(`${name}: "${raw}" is not an integer number of milliseconds in 10..3600000`);
  return n;
}
