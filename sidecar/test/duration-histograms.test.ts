// The HTTP duration histograms are aggregated by Reseal and handed to the SDK's readers as a
// MetricProducer: what Prometheus scrapes must be what the SDK's own Histogram would have
// exposed for the same recordings, so dashboards and alerts cannot tell the difference.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createTelemetry } from '@reseal/core';
import { DurationHistograms, OVERFLOW_ATTRIBUTES } from '../src/telemetry/duration-histograms.js';
import { HttpDurationHistograms } from '../src/telemetry/http-telemetry.js';
import { prometheusText } from './support/prometheus-text.js';

const BOUNDARIES = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The sample lines of one metric family (HELP and TYPE included), in order. */
function family(text: string, prefix: string): string[] {
  return text.split('\n').filter((line) => line.includes(prefix));
}

describe('duration histograms', () => {
  test('Prometheus sees exactly what the SDK histogram would show for the same recordings', async () => {
    // Boundary values land in their own bucket (le is inclusive), beyond the last in +Inf.
    const recordings: [number, Record<string, string | number>][] = [
      [0.0005, { 'http.request.method': 'GET', 'http.response.status_code': 200, peer_identity: 'spiffe://cluster.local/ns/a/sa/b' }],
      [0.0031, { 'http.request.method': 'GET', 'http.response.status_code': 200, peer_identity: 'spiffe://cluster.local/ns/a/sa/b' }],
      [0, { 'http.request.method': 'GET', 'http.response.status_code': 200, peer_identity: 'spiffe://cluster.local/ns/a/sa/b' }],
      [12.5, { 'http.request.method': 'POST', 'http.response.status_code': 503, peer_identity: 'unknown' }],
      [0.25, { 'http.request.method': 'POST', 'http.response.status_code': 503, peer_identity: 'unknown' }],
    ];
    const name = 'http.server.request.duration';

    const sdk = createTelemetry('reseal-proxy');
    const histogram = sdk.meter.createHistogram(name, { description: 'd', unit: 's', advice: { explicitBucketBoundaries: BOUNDARIES } });
    const ours = new DurationHistograms('reseal-proxy');
    const defined = ours.define(name, 'd', BOUNDARIES);
    const reseal = createTelemetry('reseal-proxy', {}, { metricProducers: [ours] });
    // One frozen object per attribute set, as HttpTelemetry interns them.
    const interned = new Map<string, Readonly<Record<string, string | number>>>();
    for (const [seconds, attributes] of recordings) {
      histogram.record(seconds, attributes);
      const key = JSON.stringify(attributes);
      if (!interned.has(key)) interned.set(key, Object.freeze({ ...attributes }));
      defined.series(interned.get(key)!).record(seconds);
    }
    try {
      const expected = family(await prometheusText(sdk), 'http_server_request_duration');
      const actual = family(await prometheusText(reseal), 'http_server_request_duration');
      assert.ok(expected.length > 2 * (BOUNDARIES.length + 3), 'the SDK exposed both series');
      assert.deepEqual(actual, expected);
    } finally {
      await Promise.all([sdk.shutdown(), reseal.shutdown()]);
    }
  });

  test('negative and non-finite durations are dropped; count, sum, min and max follow the rest', () => {
    const histogram = new DurationHistograms('t').define('d', 'd', [0.1, 1]);
    const series = histogram.series({ a: 1 });
    for (const value of [-1, Number.NaN, Number.POSITIVE_INFINITY, 0.1, 0.5, 3]) series.record(value);
    assert.deepEqual(series.counts, [1, 1, 1]);
    assert.equal(series.count, 3);
    assert.equal(series.sum, 3.6);
    assert.equal(series.min, 0.1);
    assert.equal(series.max, 3);
  });

  test('an instrument without series exports nothing; the same attribute object finds the same series', async () => {
    const histograms = new HttpDurationHistograms();
    assert.deepEqual((await histograms.collect()).resourceMetrics.scopeMetrics, []);
    const attributes = Object.freeze({ 'http.request.method': 'GET' });
    assert.equal(histograms.client.series(attributes), histograms.client.series(attributes));
    histograms.client.series(attributes).record(0.002);
    const { scopeMetrics } = (await histograms.collect()).resourceMetrics;
    assert.deepEqual(
      scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => [metric.descriptor.name, metric.dataPoints.length])),
      [['http.client.request.duration', 1]],
    );
  });

  test('past the series limit, new attribute sets share the overflow series, as in the SDK', async () => {
    const histograms = new DurationHistograms('t');
    const histogram = histograms.define('d', 'd', [1], 3);
    const sets = [1, 2, 3, 4].map((n) => Object.freeze({ n }));
    for (const attributes of sets) histogram.series(attributes).record(0.5);
    histogram.series(sets[0]!).record(0.5);
    const { scopeMetrics } = (await histograms.collect()).resourceMetrics;
    const points = scopeMetrics[0]!.metrics[0]!.dataPoints.map((point) => [point.attributes, (point.value as { count: number }).count]);
    assert.deepEqual(points, [
      [{ n: 1 }, 2],
      [{ n: 2 }, 1],
      [OVERFLOW_ATTRIBUTES, 2],
    ]);
  });
});
