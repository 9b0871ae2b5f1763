// The control plane rotates the webhook's certificate by rewriting tls.crt/tls.key; new
// connections must get the new one without a restart, and a half-written or mismatched pair
// must never replace a working one.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { after, before, test } from 'node:test';
import { generateWorkloadKeyPair } from '@reseal/core';
import { httpsRequest, podReview, startTestWebhook, type RunningTestWebhook } from './support/webhook-harness.js';

let webhook: RunningTestWebhook;

function servedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: webhook.server.port, servername: 'localhost', ca: webhook.certificates.caBundlePem }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial.toUpperCase());
    });
    socket.on('error', reject);
  });
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

before(async () => {
  webhook = await startTestWebhook({ reloadIntervalMs: 100 });
});
after(async () => {
  await webhook?.stop();
});

test('a rotated certificate is served to new connections; admission keeps working', async () => {
  const first = await servedSerial();
  const second = webhook.certificates.rotate();
  assert.notEqual(first, second);
  await eventually('the new certificate', async () => (await servedSerial()) === second.replace(/^0+/, '') || (await servedSerial()) === second);
  assert.ok(webhook.logs.lines.some((l) => l.event === 'serving_certificate_reloaded'));
  const answer = await httpsRequest(webhook.server.url, { body: JSON.stringify(podReview({ spec: { containers: [{ name: 'a' }] } })), ca: webhook.certificates.caBundlePem });
  assert.equal(answer.status, 200);
  assert.equal(webhook.server.certificate().notAfter.getTime() > Date.now(), true);
});

test('a key that does not match the certificate is refused and the working pair kept', async () => {
  const serving = await servedSerial();
  const { privateKey } = generateWorkloadKeyPair();
  writeFileSync(webhook.certificates.keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await eventually('the rejection', async () => webhook.logs.lines.some((l) => l.event === 'serving_certificate_rejected'));
  assert.equal(await servedSerial(), serving);
  writeFileSync(webhook.certificates.certFile, 'not a certificate');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await servedSerial(), serving);
  // The next complete pair is taken.
  const next = webhook.certificates.rotate();
  await eventually('the next certificate', async () => [next, next.replace(/^0+/, '')].includes(await servedSerial()));
});
