// The control plane's own gauges and histograms: CSR queue depth (Certify calls in flight),
// discovery subscribers, and push latency from a mesh change to the watcher's stream; the
// leadership, CA reload and trust-bundle publication series.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WatchResponse } from '@reseal/core';
import type { Meter } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { pino } from 'pino';
import { CertificateAuthority } from '../src/ca/index.js';
import { DiscoveryHub } from '../src/discovery/discovery-hub.js';
import { MeshModel } from '../src/discovery/mesh-model.js';
import type { PodRecord } from '../src/discovery/mesh-records.js';
import type { WatchSink } from '../src/discovery/watch-subscriber.js';
import type { AuthenticatedCaller } from '../src/identity/caller.js';
import { CertifyService } from '../src/identity/certify-service.js';
import { RateLimiter } from '../src/identity/rate-limiter.js';
import { CONTROL_PLANE_METRIC_NAMES, ControlPlaneMetrics } from '../src/telemetry/control-plane-metrics.js';

class TestReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

async function points(reader: TestReader, name: string): Promise<DataPoint<unknown>[]> {
  const { resourceMetrics } = await reader.collect();
  return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as DataPoint<unknown>[]));
}

function pod(name: string, ip: string): PodRecord {
  return { namespace: 'shop', name, ips: [ip], serviceAccount: 'web', meshed: true, labels: { app: 'web' }, workload: 'web', terminated: false, createdAt: 1000 };
}

class Sink implements WatchSink {
  readonly messages: WatchResponse[] = [];
  write(message: WatchResponse, done: (error?: Error | null) => void): void {
    this.messages.push(message);
    setTimeout(() => done(), 5);
  }
  end(): void {}
}

test('push latency is measured from the first change of a burst to the stream taking it; the snapshot is not a push', async () => {
  const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const reader = new TestReader();
  const metrics = new ControlPlaneMetrics(new MeterProvider({ readers: [reader] }).getMeter('t'), () => ({ rootNotAfter: ca.rootNotAfter, issuerNotAfter: ca.issuerNotAfter }));
  const model = new MeshModel('cluster.local');
  model.upsertPod(pod('web-0', '10.0.0.1'));
  const pushes: number[] = [];
  const hub = new DiscoveryHub(model, {
    logger: pino({ level: 'silent' }),
    trustBundlePem: 'R',
    debounceMs: 40,
    onPushed: (seconds) => {
      pushes.push(seconds);
      metrics.discoveryPushSeconds.record(seconds);
    },
  });
  metrics.observe({ certifyInFlight: () => 0, discoverySubscribers: () => hub.subscriberCount });
  hub.markSynced();
  const sink = new Sink();
  hub.subscribe({ namespace: 'shop', name: 'web-0' }, sink, () => undefined);
  hub.subscribe({ namespace: 'shop', name: 'web-0' }, new Sink(), () => undefined);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(pushes, [], 'the initial snapshots are not pushes of a change');
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.discoverySubscribers))[0]?.value, 2);

  model.upsertPod(pod('web-1', '10.0.0.2'));
  hub.markDirty();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(pushes.length, 2, 'one push per watcher');
  for (const seconds of pushes) assert.ok(seconds >= 0.04 && seconds < 1, `${seconds} s includes the debounce and the write`);
  const histogram = (await points(reader, CONTROL_PLANE_METRIC_NAMES.discoveryPushDuration))[0]?.value as Histogram;
  assert.equal(histogram.count, 2);
  assert.ok((await points(reader, CONTROL_PLANE_METRIC_NAMES.rootExpiry))[0]!.value as number > Date.now() / 1000);
  hub.close();
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.discoverySubscribers))[0]?.value, 0);
});

test('Certify calls in flight are the CSR queue depth', async () => {
  const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const reader = new TestReader();
  const metrics = new ControlPlaneMetrics(new MeterProvider({ readers: [reader] }).getMeter('t'), () => ({ rootNotAfter: ca.rootNotAfter, issuerNotAfter: ca.issuerNotAfter }));
  const waiting: ((caller: AuthenticatedCaller) => void)[] = [];
  const failing: ((error: Error) => void)[] = [];
  const service = new CertifyService(
    { trustDomain: 'cluster.local', defaultTtlSeconds: 3600, maxTtlSeconds: 86_400 },
    {
      authenticate: () =>
        new Promise<AuthenticatedCaller>((resolve, reject) => {
          waiting.push(resolve);
          failing.push(reject);
        }),
    },
    () => ({ issueWorkloadSvid: () => assert.fail('not reached'), trustBundlePem: ca.trustBundlePem, trustRoots: [], issuerChain: [] }),
    new RateLimiter(10, 10),
  );
  metrics.observe({ certifyInFlight: () => service.inFlight, discoverySubscribers: () => 0 });
  const calls = [1, 2, 3].map(() => service.certify({ csr: Buffer.alloc(0), ttlSeconds: 3600, bearerToken: 't', peerCertificates: [] }).catch(() => undefined));
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.requestsInFlight))[0]?.value, 3);
  for (const fail of failing) fail(new Error('token review down'));
  await Promise.all(calls);
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.requestsInFlight))[0]?.value, 0);
  assert.equal(waiting.length, 3);
});

test('leadership, CA and trust-bundle series: absent until their source exists, then present from the start at 0', async () => {
  const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const reader = new TestReader();
  const metrics = new ControlPlaneMetrics(new MeterProvider({ readers: [reader] }).getMeter('t'), () => ({ rootNotAfter: ca.rootNotAfter, issuerNotAfter: ca.issuerNotAfter }));
  const byLabel = async (name: string, label: string): Promise<Record<string, unknown>> =>
    Object.fromEntries((await points(reader, name)).map((p) => [String(p.attributes[label]), p.value]));
  for (const name of [CONTROL_PLANE_METRIC_NAMES.leader, CONTROL_PLANE_METRIC_NAMES.leaderTransitions, CONTROL_PLANE_METRIC_NAMES.caTrustAnchors, CONTROL_PLANE_METRIC_NAMES.caReloads, CONTROL_PLANE_METRIC_NAMES.trustBundlePublish]) {
    assert.deepEqual(await points(reader, name), [], `${name} without a source`);
  }

  let leading = false;
  metrics.observeLeadership(() => leading);
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.leader))[0]?.value, 0);
  assert.deepEqual(await byLabel(CONTROL_PLANE_METRIC_NAMES.leaderTransitions, 'transition'), { acquired: 0, lost: 0 });
  leading = true;
  metrics.leadershipChanged('acquired');
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.leader))[0]?.value, 1);
  leading = false;
  metrics.leadershipChanged('lost');
  assert.deepEqual(await byLabel(CONTROL_PLANE_METRIC_NAMES.leaderTransitions, 'transition'), { acquired: 1, lost: 1 });

  metrics.caLoaded(1, new Date(1_700_000_000_000));
  metrics.watchCaReloads();
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.caTrustAnchors))[0]?.value, 1);
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.caLastReload))[0]?.value, 1_700_000_000);
  assert.deepEqual(await byLabel(CONTROL_PLANE_METRIC_NAMES.caReloads, 'result'), { ok: 0, failed: 0 });
  metrics.caLoaded(2, new Date(1_700_000_060_000));
  metrics.caReloaded('ok');
  metrics.caReloaded('failed');
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.caTrustAnchors))[0]?.value, 2);
  assert.equal((await points(reader, CONTROL_PLANE_METRIC_NAMES.caLastReload))[0]?.value, 1_700_000_060);
  assert.deepEqual(await byLabel(CONTROL_PLANE_METRIC_NAMES.caReloads, 'result'), { ok: 1, failed: 1 });

  metrics.watchTrustBundlePublishing();
  assert.deepEqual(await byLabel(CONTROL_PLANE_METRIC_NAMES.trustBundlePublish, 'result'), { ok: 0, failed: 0 });
  metrics.trustBundlePublished('ok');
  metrics.trustBundlePublished('ok');
  assert.deepEqual(await byLabel(CONTROL_PLANE_METRIC_NAMES.trustBundlePublish, 'result'), { ok: 2, failed: 0 });
});

test('a failing instrument never throws into the work it counts', () => {
  const failing = () => {
    throw new Error('instrument broken');
  };
  const meter = {
    createCounter: () => ({ add: failing }),
    createHistogram: () => ({ record: failing }),
    createObservableGauge: () => ({ addCallback: () => undefined }),
  } as unknown as Meter;
  const metrics = new ControlPlaneMetrics(meter, () => ({ rootNotAfter: new Date(), issuerNotAfter: new Date() }));
  assert.doesNotThrow(() => {
    metrics.observeLeadership(() => true);
    metrics.leadershipChanged('acquired');
    metrics.caLoaded(2);
    metrics.watchCaReloads();
    metrics.caReloaded('failed');
    metrics.watchTrustBundlePublishing();
    metrics.trustBundlePublished('failed');
  });
});
