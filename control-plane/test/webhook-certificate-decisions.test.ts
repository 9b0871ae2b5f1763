// The pure decisions behind the webhook certificate: when the Secret needs a new certificate,
// when only its ca.crt, and which caBundle entries to patch.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { CertificateAuthority } from '../src/ca/certificate-authority.js';
import { caBundlePatch } from '../src/webhook-certificate/ca-bundle-patch.js';
import { assessServingSecret, encodeData, issueServingSecretData, renewalTime } from '../src/webhook-certificate/webhook-serving-secret.js';

const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
const other = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
const NAMES = ['reseal-injector.reseal-system.svc', 'reseal-injector.reseal-system.svc.cluster.local'];
const wants = (now = new Date(), trustBundlePem = ca.trustBundlePem): { dnsNames: string[]; trustBundlePem: string; now: Date } => ({ dnsNames: NAMES, trustBundlePem, now });
const tls = (data: Record<string, string>): { type: string; data: Record<string, string> } => ({ type: 'kubernetes.io/tls', data });

test('a fresh certificate is kept until half of its life, then reissued', () => {
  const issued = issueServingSecretData(ca, NAMES, 86_400);
  const assessed = assessServingSecret(tls(issued.data), wants());
  assert.equal(assessed.action, 'keep');
  const halfLife = (assessed as { renewAt: Date }).renewAt.getTime() - Date.now();
  assert.ok(Math.abs(halfLife - 43_200_000) < 5000, `renews ${halfLife} ms from now`);
  assert.deepEqual(assessServingSecret(tls(issued.data), wants(new Date(Date.now() + 12.1 * 3_600_000))), { action: 'issue', reason: 'past half of its lifetime' });
});

test('the clock-skew back-dating does not make a short certificate due at once', () => {
  const issued = issueServingSecretData(ca, NAMES, 60);
  const leaf = new X509Certificate(Buffer.from(issued.data['tls.crt']!, 'base64').toString());
  const due = renewalTime(leaf).getTime() - Date.now();
  assert.ok(due > 25_000 && due <= 30_000, `due in ${due} ms`);
});

test('anything the API server would refuse, or a foreign or mangled Secret, means a new certificate', () => {
  const issued = issueServingSecretData(ca, NAMES, 86_400);
  const reason = (secret: Parameters<typeof assessServingSecret>[0], w = wants()): string => {
    const result = assessServingSecret(secret, w);
    assert.equal(result.action, 'issue');
    return (result as { reason: string }).reason;
  };
  assert.equal(reason(undefined), 'missing');
  assert.match(reason({ type: 'Opaque', data: issued.data }), /type is Opaque/);
  assert.match(reason(tls({ ...issued.data, 'tls.crt': encodeData({ 'tls.crt': 'garbage' })['tls.crt']! })), /cannot be parsed/);
  assert.match(reason(tls({ ...issued.data, 'tls.key': issueServingSecretData(ca, NAMES, 3600).data['tls.key']! })), /does not match/);
  assert.match(reason(tls(issueServingSecretData(ca, [NAMES[0]!], 3600).data)), /lacks reseal-injector\.reseal-system\.svc\.cluster\.local/);
  assert.match(reason(tls(issueServingSecretData(other, NAMES, 3600).data)), /does not chain/);
  assert.match(reason(tls(issued.data), wants(new Date(Date.now() + 2 * 86_400_000))), /does not chain|past half/);
});

test('a changed bundle that still trusts the certificate only updates ca.crt', () => {
  const issued = issueServingSecretData(ca, NAMES, 86_400);
  const both = ca.trustBundlePem + other.trustBundlePem;
  assert.equal(assessServingSecret(tls(issued.data), wants(new Date(), both)).action, 'update-bundle');
  assert.equal(assessServingSecret(tls(issued.data), wants(new Date(), other.trustBundlePem)).action, 'issue');
});

test('caBundle patch: nothing when every webhook has the bundle; guarded add for the others', () => {
  const bundle = Buffer.from(ca.trustBundlePem).toString('base64');
  const configuration = (bundles: (string | undefined)[]): V1MutatingWebhookConfiguration => ({
    webhooks: bundles.map((caBundle, i) => ({
      name: `w${i}.reseal.dev`,
      clientConfig: caBundle === undefined ? {} : { caBundle },
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
    })),
  });
  assert.deepEqual(caBundlePatch(configuration([bundle, bundle]), ca.trustBundlePem), []);
  assert.deepEqual(caBundlePatch(configuration([bundle, undefined, 'b2xk']), ca.trustBundlePem), [
    { op: 'test', path: '/webhooks/1/name', value: 'w1.reseal.dev' },
    { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: bundle },
    { op: 'test', path: '/webhooks/2/name', value: 'w2.reseal.dev' },
    { op: 'add', path: '/webhooks/2/clientConfig/caBundle', value: bundle },
  ]);
  assert.deepEqual(caBundlePatch({}, ca.trustBundlePem), []);
});
