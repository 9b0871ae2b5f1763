// Duration histograms recorded once per HTTP request (http-telemetry.ts), aggregated here
// rather than by the OpenTelemetry SDK and handed to its readers (Prometheus, OTLP) as a
// MetricProducer. The SDK's Histogram.record() hashes the attribute set on every call (sorted
// keys, JSON.stringify): with the eight attributes of a request that was about 6% of a
// proxy's busy main-thread time in a CPU profile at 64 connections.
// A request's attribute set is already interned per connection, so a series can be found
// once and each request costs a bucket search and four additions. What the readers see is
// what the SDK would have produced: explicit-bucket histograms, cumulative, same names.

import { ValueType } from '@opentelemetry/api';
import type { Attributes, HrTime } from '@opentelemetry/api';
import { emptyResource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { CollectionResult, DataPoint, Histogram, HistogramMetricData, MetricProducer } from '@opentelemetry/sdk-metrics';

/** One attribute set of one histogram. */
export class DurationSeries {
  readonly attributes: Attributes;
  readonly startTime: HrTime;
  /** Per bucket (not cumulative); the last one is above the last boundary. */
  readonly counts: number[];
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  readonly #boundaries: readonly number[];

  constructor(attributes: Attributes, boundaries: readonly number[]) {
    this.attributes = attributes;
    this.#boundaries = boundaries;
    this.counts = new Array<number>(boundaries.length + 1).fill(0);
    this.startTime = hrNow();
  }

  /** Seconds; negative and non-finite values are dropped, as the SDK's histogram drops them. */
  record(seconds: number): void {
    if (!(seconds >= 0) || seconds === Infinity) return;
    const boundaries = this.#boundaries;
    // Boundaries are inclusive upper bounds (Prometheus `le`); few enough for a linear scan.
    let i = 0;
    while (i < boundaries.length && seconds > boundaries[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += seconds;
    if (seconds < this.min) this.min = seconds;
    if (seconds > this.max) this.max = seconds;
  }
}

/** The SDK's default cardinality limit per instrument, and its overflow series. */
export const MAX_SERIES = 2000;
export const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': true });

/** One histogram instrument: its series, keyed by the (interned) attribute object. */
export class DurationHistogram {
  readonly name: string;
  readonly description: string;
  readonly boundaries: readonly number[];
  readonly #series = new Map<Attributes, DurationSeries>();
  readonly #maxSeries: number;
  #overflow: DurationSeries | undefined;

  constructor(name: string, description: string, boundaries: readonly number[], maxSeries = MAX_SERIES) {
    this.name = name;
    this.description = description;
    this.boundaries = Object.freeze([...boundaries]);
    this.#maxSeries = maxSeries;
  }

  /**
   * The series of `attributes`; pass the same (frozen, interned) object each time. Past
   * `maxSeries` series (the last one kept for it), new attribute sets share the overflow
   * series, as the SDK's own instruments do.
   */
  series(attributes: Attributes): DurationSeries {
    let series = this.#series.get(attributes);
    if (series === undefined) {
      if (this.#series.size >= this.#maxSeries - 1) {
        this.#overflow ??= new DurationSeries(OVERFLOW_ATTRIBUTES, this.boundaries);
        return this.#overflow;
      }
      series = new DurationSeries(attributes, this.boundaries);
      this.#series.set(attributes, series);
    }
    return series;
  }

  metricData(endTime: HrTime): HistogramMetricData | undefined {
    if (this.#series.size === 0) return undefined;
    const dataPoints: DataPoint<Histogram>[] = [];
    const all = this.#overflow === undefined ? this.#series.values() : [...this.#series.values(), this.#overflow];
    for (const series of all) {
      const empty = series.count === 0;
      dataPoints.push({
        attributes: series.attributes,
        startTime: series.startTime,
        endTime,
        value: {
          buckets: { boundaries: [...this.boundaries], counts: [...series.counts] },
          count: series.count,
          sum: series.sum,
          ...(empty ? {} : { min: series.min, max: series.max }),
        },
      });
    }
    return {
      descriptor: { name: this.name, description: this.description, unit: 's', valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}

/** The duration histograms of one process, for createTelemetry's `metricProducers`. */
export class DurationHistograms implements MetricProducer {
  readonly #scope: string;
  readonly #histograms: DurationHistogram[] = [];

  constructor(scope: string) {
    this.#scope = scope;
  }

  define(name: string, description: string, boundaries: readonly number[], maxSeries = MAX_SERIES): DurationHistogram {
    const histogram = new DurationHistogram(name, description, boundaries, maxSeries);
    this.#histograms.push(histogram);
    return histogram;
  }

  collect(): Promise<CollectionResult> {
    const endTime = hrNow();
    const metrics = this.#histograms.map((h) => h.metricData(endTime)).filter((m) => m !== undefined);
    return Promise.resolve({
      // The reader keeps its own resource; a producer's is not used.
      resourceMetrics: { resource: emptyResource(), scopeMetrics: metrics.length === 0 ? [] : [{ scope: { name: this.#scope }, metrics }] },
      errors: [],
    });
  }
}

function hrNow(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6))];
}
