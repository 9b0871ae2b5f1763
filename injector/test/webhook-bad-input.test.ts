// Everything odd a client can send to /mutate over HTTPS: each gets a clean answer (an
// AdmissionReview, or a plain HTTP status where there is no review to answer), a metric
// and one log line, and a good request is still injected right after it.
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { applyJsonPatch, type JsonPatchOperation } from '../src/patch/index.js';
import { httpsRequest, podReview, startTestWebhook, type HttpAnswer, type RunningTestWebhook } from './support/webhook-harness.js';

let webhook: RunningTestWebhook;
let mutateRequests = 0;
const goodPod = { metadata: { name: 'good', labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web', ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/r', port: 'http' } } }] } };

async function mutate(body: string | Buffer, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  mutateRequests += 1;
  return httpsRequest(webhook.server.url, { body, agent: webhook.agent, headers });
}

function response(answer: HttpAnswer): { uid: string; allowed: boolean; patch?: string; patchType?: string; status?: { code: number; message: string } } {
  assert.equal(answer.status, 200, answer.text);
  const review = answer.json();
  assert.equal(review.apiVersion, 'admission.k8s.io/v1');
  assert.equal(review.kind, 'AdmissionReview');
  return review.response as ReturnType<typeof response>;
}

async function assertStillServing(): Promise<void> {
  const review = podReview(goodPod);
  const answer = response(await mutate(JSON.stringify(review)));
  assert.equal(answer.uid, (review.request as { uid: string }).uid);
  assert.equal(answer.allowed, true);
  assert.equal(answer.patchType, 'JSONPatch');
  const patch = JSON.parse(Buffer.from(answer.patch ?? '', 'base64').toString('utf8')) as JsonPatchOperation[];
  const injected = applyJsonPatch<unknown>(goodPod, patch) as { spec: { initContainers: { name: string }[] } };
  assert.deepEqual(injected.spec.initContainers.map((c) => c.name), ['reseal-init', 'reseal-proxy']);
}

before(async () => {
  webhook = await startTestWebhook({ maxBodyBytes: 256 * 1024 });
});
after(async () => {
  await webhook?.stop();
});

describe('HTTP-level errors', () => {
  test('a body that is not JSON: 400', async () => {
    const answer = await mutate('this is not json');
    assert.equal(answer.status, 400);
    assert.match(answer.text, /not JSON/);
    await assertStillServing();
  });

  test('truncated JSON and invalid UTF-8: 400', async () => {
    assert.equal((await mutate('{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionRev')).status, 400);
    assert.equal((await mutate(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))).status, 400);
    assert.equal((await mutate('')).status, 400);
    await assertStillServing();
  });

  test('a body over the limit, announced by content-length: 413 without reading it', async () => {
    const answer = await mutate(Buffer.alloc(300 * 1024, 0x20));
    assert.equal(answer.status, 413);
    await assertStillServing();
  });

  test('a body over the limit in chunks without a length: 413', async () => {
    mutateRequests += 1;
    const answer = await new Promise<number>((resolve, reject) => {
      import('node:https').then(({ request }) => {
        const req = request(webhook.server.url, { method: 'POST', ca: webhook.certificates.caBundlePem, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? resolve(-1) : reject(error)));
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const pump = (): void => {
          while (sent < 40 && !req.destroyed) {
            sent += 1;
            if (!req.write(chunk)) {
              req.once('drain', pump);
              return;
            }
          }
          req.end();
        };
        pump();
      }, reject);
    });
    // The server answers 413 and closes; depending on timing the client sees the answer or the reset.
    assert.ok(answer === 413 || answer === -1, `status ${answer}`);
    await assertStillServing();
  });

  test('other methods and paths', async () => {
    const get = await httpsRequest(webhook.server.url, { method: 'GET', agent: webhook.agent });
    mutateRequests += 1;
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.equal((await httpsRequest(webhook.server.url.replace('/mutate', '/validate'), { agent: webhook.agent, body: '{}' })).status, 404);
    assert.equal((await httpsRequest(webhook.server.url.replace('/mutate', '/live'), { method: 'GET', agent: webhook.agent })).status, 200);
    assert.equal((await httpsRequest(webhook.server.url.replace('/mutate', '/ready'), { method: 'GET', agent: webhook.agent })).status, 200);
    await assertStillServing();
  });

  test('a client that disconnects in the middle of a body', async () => {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: webhook.server.port, servername: 'localhost', ca: webhook.certificates.caBundlePem }, () => {
        socket.write('POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{"apiVersion":');
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
      socket.on('error', reject);
    });
    mutateRequests += 1;
    await assertStillServing();
  });

  test('garbage that is not HTTP at all', async () => {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: webhook.server.port, servername: 'localhost', ca: webhook.certificates.caBundlePem }, () => {
        socket.write('\x00\x01\x02 hello\r\n\r\n');
      });
      socket.on('data', () => undefined);
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    await assertStillServing();
  });
});

describe('AdmissionReview answers', () => {
  const cases: { name: string; body: unknown; allowed: boolean; message: RegExp; uid?: string }[] = [
    { name: 'JSON that is not an AdmissionReview', body: { hello: 'world' }, allowed: false, message: /expected apiVersion admission.k8s.io\/v1 kind AdmissionReview/ },
    { name: 'a JSON array', body: [1, 2, 3], allowed: false, message: /expected an AdmissionReview object/ },
    { name: 'JSON null', body: null, allowed: false, message: /expected an AdmissionReview object/ },
    { name: 'a JSON string', body: 'AdmissionReview', allowed: false, message: /expected an AdmissionReview object/ },
    { name: 'admission.k8s.io/v1beta1', body: { ...podReview(goodPod), apiVersion: 'admission.k8s.io/v1beta1' }, allowed: false, message: /admissionReviewVersions \[v1\]/ },
    { name: 'no request', body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, allowed: false, message: /has no request/ },
    { name: 'request is a string', body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: 'pod' }, allowed: false, message: /has no request/ },
    { name: 'no uid', body: podReview(goodPod, { uid: undefined }), allowed: false, message: /request.uid is missing/ },
    { name: 'a numeric uid', body: podReview(goodPod, { uid: 42 }), allowed: false, message: /request.uid is missing/ },
    { name: 'a Deployment', body: podReview(goodPod, { uid: 'u-deploy', kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), allowed: true, uid: 'u-deploy', message: /only mutates core\/v1 Pods, got apps\/v1\/Deployment/ },
    { name: 'kind is garbage', body: podReview(goodPod, { uid: 'u-kind', kind: 'Pod' }), allowed: true, uid: 'u-kind', message: /only mutates core\/v1 Pods/ },
    { name: 'a DELETE', body: podReview(null, { uid: 'u-delete', operation: 'DELETE', oldObject: goodPod }), allowed: true, uid: 'u-delete', message: /only handles CREATE, got "DELETE"/ },
    { name: 'an UPDATE', body: podReview(goodPod, { uid: 'u-update', operation: 'UPDATE' }), allowed: true, uid: 'u-update', message: /only handles CREATE/ },
    { name: 'the pods/ephemeralcontainers subresource', body: podReview(goodPod, { uid: 'u-sub', subResource: 'ephemeralcontainers' }), allowed: true, uid: 'u-sub', message: /pods\/ephemeralcontainers subresource/ },
    { name: 'an object that is a Secret', body: podReview({ kind: 'Secret', metadata: { name: 's' }, data: {} }, { uid: 'u-secret' }), allowed: false, uid: 'u-secret', message: /not a Pod \(kind "Secret"\)/ },
    { name: 'no object', body: podReview(undefined, { uid: 'u-none' }), allowed: false, uid: 'u-none', message: /not a Pod/ },
    { name: 'no namespace anywhere', body: podReview(goodPod, { uid: 'u-ns', namespace: 7 }), allowed: false, uid: 'u-ns', message: /names no namespace/ },
    { name: 'containers is a string', body: podReview({ spec: { containers: 'web' } }, { uid: 'u-c' }), allowed: false, uid: 'u-c', message: /malformed pod: spec.containers must be a list/ },
    { name: 'labels is a number', body: podReview({ metadata: { labels: 5 }, spec: { containers: [{ name: 'a' }] } }, { uid: 'u-l' }), allowed: false, uid: 'u-l', message: /metadata.labels must be a map/ },
    { name: 'spec is null', body: podReview({ metadata: {}, spec: null }, { uid: 'u-s' }), allowed: false, uid: 'u-s', message: /spec must be an object/ },
    {
      name: 'an invalid annotation',
      body: podReview({ metadata: { name: 'p', annotations: { 'reseal.dev/skip-inbound-ports': '22,ssh' } }, spec: { containers: [{ name: 'a' }] } }, { uid: 'u-ann' }),
      allowed: false,
      uid: 'u-ann',
      message: /annotation reseal.dev\/skip-inbound-ports: "22,ssh" has "ssh", which is not a port/,
    },
    {
      name: 'an invalid inject mode',
      body: podReview({ metadata: { name: 'p', annotations: { 'reseal.dev/inject-mode': 'sideways' } }, spec: { containers: [{ name: 'a' }] } }, { uid: 'u-mode' }),
      allowed: false,
      uid: 'u-mode',
      message: /reseal.dev\/inject-mode/,
    },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const answer = response(await mutate(JSON.stringify(c.body)));
      assert.equal(answer.allowed, c.allowed);
      assert.equal(answer.uid, c.uid ?? '');
      assert.equal(answer.patch, undefined);
      assert.match(answer.status?.message ?? '', c.message);
      assert.ok((answer.status?.code ?? 0) >= 200);
      await assertStillServing();
    });
  }

  test('skipped pods are allowed without a patch', async () => {
    for (const pod of [
      { metadata: { name: 'h' }, spec: { hostNetwork: true, containers: [{ name: 'a' }] } },
      { metadata: { name: 'o', labels: { 'reseal.dev/inject': 'disabled' } }, spec: { containers: [{ name: 'a' }] } },
    ]) {
      const answer = response(await mutate(JSON.stringify(podReview(pod))));
      assert.equal(answer.allowed, true);
      assert.equal(answer.patch, undefined);
    }
    const mesh = response(await mutate(JSON.stringify(podReview(goodPod, { namespace: 'reseal-system' }))));
    assert.deepEqual([mesh.allowed, mesh.patch], [true, undefined]);
  });

  test('deeply nested JSON does not take the server down', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const answer = await mutate(deep);
    assert.ok(answer.status === 200 || answer.status === 400, `status ${answer.status}`);
    // Deep junk inside a probe: the injector must not try to copy it into the proxy's env.
    const marker = '"__DEEP__"';
    const nestedPod = { metadata: { name: 'n', labels: { a: 'b' } }, spec: { containers: [{ name: 'a', readinessProbe: { httpGet: { port: 80, path: '/', extra: '__DEEP__' } } }] } };
    const body = JSON.stringify(podReview(nestedPod)).replace(marker, `${'['.repeat(50_000)}${']'.repeat(50_000)}`);
    const nested = response(await mutate(body));
    assert.equal(nested.allowed, true);
    assert.equal(nested.patchType, 'JSONPatch');
    await assertStillServing();
  });
});

describe('observability', () => {
  test('every /mutate request has one log line and one metric sample', async () => {
    const admissions = webhook.logs.admissions();
    assert.equal(admissions.length, mutateRequests);
    for (const line of admissions) {
      assert.ok(['injected', 'skipped', 'denied', 'error'].includes(line.result as string));
      assert.equal(typeof line.durationMs, 'number');
      assert.equal(JSON.stringify(line).includes('registry.example'), false, 'pods are not logged');
    }
    const metrics = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      const fake = {
        statusCode: 200,
        setHeader: () => undefined,
        writeHead: () => fake,
        end: (body?: string) => resolve(`${Buffer.concat(chunks).toString()}${body ?? ''}`),
        write: (c: string) => chunks.push(Buffer.from(c)),
      };
      webhook.telemetry.metricsHandler({ url: '/metrics', headers: {} } as never, fake as never);
    });
    const counts = Object.fromEntries([...metrics.matchAll(/^reseal_injector_admissions_total\{result="(\w+)"\} (\d+)/gm)].map((m) => [m[1], Number(m[2])]));
    const byResult = (result: string): number => admissions.filter((l) => l.result === result).length;
    for (const result of ['injected', 'skipped', 'denied', 'error']) assert.equal(counts[result] ?? 0, byResult(result), `${result}: ${metrics}`);
    assert.ok((counts.denied ?? 0) >= 2 && (counts.error ?? 0) >= 10 && (counts.injected ?? 0) >= 10 && (counts.skipped ?? 0) >= 3);
    assert.match(metrics, /reseal_injector_admission_duration_seconds_bucket/);
    assert.match(metrics, /reseal_injector_serving_certificate_expiry_timestamp_seconds/);
  });
});
