// The identity service over real gRPC and TLS, in standalone mode (static bootstrap tokens):
// good requests, renewal by certificate, and a battery of bad input between good requests.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createCsr, generateWorkloadKeyPair } from '@reseal/core';
import { pino } from 'pino';
import { CertificateAuthority } from '../src/ca/certificate-authority.js';
import { parseConfig } from '../src/config.js';
import { startControlPlane, type RunningControlPlane } from '../src/control-plane.js';
import { TestIdentityClient } from './support/identity-client.js';
import { opensslCsr } from './support/openssl-csr.js';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const WEB_TOKEN = 'web-bootstrap-token-0123456789';
const LIMITED_TOKEN = 'limited-bootstrap-token-0123456789';
let dir: string;
let controlPlane: RunningControlPlane;
let client: TestIdentityClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reseal-identity-test-'));
  writeFileSync(
    join(dir, 'tokens.json'),
    JSON.stringify({
      tokens: [
        { token: WEB_TOKEN, namespace: 'shop', serviceAccount: 'web' },
        { token: LIMITED_TOKEN, namespace: 'shop', serviceAccount: 'limited' },
      ],
    }),
  );
  const config = parseConfig({
    RESEAL_STANDALONE_TOKENS: join(dir, 'tokens.json'),
    RESEAL_LISTEN_HOST: '127.0.0.1',
    RESEAL_IDENTITY_PORT: '0',
    RESEAL_ADMIN_PORT: '0',
    RESEAL_RATE_LIMIT_BURST: '40',
    RESEAL_RATE_LIMIT_PER_SECOND: '1',
  });
  controlPlane = await startControlPlane(config, { logger: pino({ level: 'silent' }) });
  client = new TestIdentityClient(controlPlane.identityPort, controlPlane.ca().trustBundlePem);
});

after(async () => {
  await controlPlane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function assertStillServing(): Promise<void> {
  const { response } = await client.certify(WEB, { token: WEB_TOKEN });
  assert.equal(response.spiffeId, WEB);
}

test('a bootstrap token gets an SVID for its own identity, chained to the trust bundle', async () => {
  const { response, key } = await client.certify(WEB, { token: WEB_TOKEN });
  assert.equal(response.spiffeId, WEB);
  const [leaf, issuer] = response.certificateChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((pem) => new X509Certificate(pem));
  assert.ok(leaf && issuer);
  assert.equal(leaf.subjectAltName, `URI:${WEB}`);
  assert.ok(leaf.checkPrivateKey(key.privateKey), 'the certificate carries the CSR key');
  assert.ok(leaf.verify(issuer.publicKey));
  const root = new X509Certificate(response.trustBundlePem);
  assert.ok(issuer.verify(root.publicKey));
  const lifetime = Number(response.notAfter) - Number(response.notBefore);
  assert.ok(lifetime >= 3600 && lifetime <= 3600 + 120, `default lifetime about 1 h (got ${lifetime} s)`);
  assert.equal(leaf.serialNumber, response.serial);
});

test('a requested 60 s TTL is honoured', async () => {
  const { response } = await client.certify(WEB, { token: WEB_TOKEN, ttlSeconds: 60 });
  const notAfter = Number(response.notAfter);
  const now = Date.now() / 1000;
  assert.ok(notAfter - now <= 61 && notAfter - now >= 55, `expires in about 60 s (got ${notAfter - now})`);
});

test('renewal with the current mesh certificate, without a token', async () => {
  const first = await client.certify(WEB, { token: WEB_TOKEN });
  const renewed = await client.certify(WEB, { clientCert: { chainPem: first.response.certificateChainPem, keyPem: first.keyPem } });
  assert.equal(renewed.response.spiffeId, WEB);
  assert.notEqual(renewed.response.serial, first.response.serial);
  // The certificate proves web, so it cannot be used to get another identity.
  const other = await client.certifyRaw(csrFor('spiffe://cluster.local/ns/shop/sa/admin'), {
    clientCert: { chainPem: first.response.certificateChainPem, keyPem: first.keyPem },
  });
  assert.equal(other.error?.code, status.PERMISSION_DENIED);
  // A forged token does not stop a caller with a valid certificate from renewing.
  const withBadToken = await client.certify(WEB, { token: 'forged-token-forged-token', clientCert: { chainPem: first.response.certificateChainPem, keyPem: first.keyPem } });
  assert.equal(withBadToken.response.spiffeId, WEB);
});

test('a certificate from another CA does not authenticate', async () => {
  const foreign = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const key = generateWorkloadKeyPair();
  const issued = foreign.issueWorkloadSvid({ publicKey: key.publicKey, spiffeId: WEB, ttlSeconds: 600 });
  const { error } = await client.certifyRaw(csrFor(WEB), {
    clientCert: { chainPem: issued.chainPem, keyPem: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() },
  });
  assert.equal(error?.code, status.UNAUTHENTICATED);
  await assertStillServing();
});

function csrFor(id: string): Buffer {
  const key = generateWorkloadKeyPair();
  return createCsr(key.privateKey, key.publicKey, id);
}

const cases: { name: string; csr: () => Buffer; token?: string; code: status; message: RegExp }[] = [
  { name: 'no token and no certificate', csr: () => csrFor(WEB), code: status.UNAUTHENTICATED, message: /no bearer token/ },
  { name: 'an unknown token', csr: () => csrFor(WEB), token: 'not-a-real-token-at-all', code: status.UNAUTHENTICATED, message: /unknown bootstrap token/ },
  { name: 'a CSR for another identity', csr: () => csrFor('spiffe://cluster.local/ns/shop/sa/admin'), token: WEB_TOKEN, code: status.PERMISSION_DENIED, message: /admin/ },
  { name: 'a CSR for another trust domain', csr: () => csrFor('spiffe://evil.org/ns/shop/sa/web'), token: WEB_TOKEN, code: status.PERMISSION_DENIED, message: /evil\.org/ },
  { name: 'an extra URI SAN', csr: () => opensslCsr({ key: 'ec-p256', san: `URI:${WEB},URI:spiffe://cluster.local/ns/shop/sa/admin` }), token: WEB_TOKEN, code: status.PERMISSION_DENIED, message: /SAN|URI/ },
  { name: 'a DNS SAN', csr: () => opensslCsr({ key: 'ec-p256', san: `URI:${WEB},DNS:web.shop.svc` }), token: WEB_TOKEN, code: status.PERMISSION_DENIED, message: /DNS/ },
  { name: 'an IP SAN', csr: () => opensslCsr({ key: 'ec-p256', san: `URI:${WEB},IP:198.18.0.1` }), token: WEB_TOKEN, code: status.PERMISSION_DENIED, message: /IP/ },
  { name: 'an email SAN', csr: () => opensslCsr({ key: 'ec-p256', san: `URI:${WEB},email:a@b.c` }), token: WEB_TOKEN, code: status.PERMISSION_DENIED, message: /mail|rfc822/i },
  { name: 'an RSA key', csr: () => opensslCsr({ key: 'rsa:2048', san: `URI:${WEB}` }), token: WEB_TOKEN, code: status.INVALID_ARGUMENT, message: /RSA|ecdsa|key/ },
  { name: 'a P-384 key', csr: () => opensslCsr({ key: 'ec-p384', san: `URI:${WEB}` }), token: WEB_TOKEN, code: status.INVALID_ARGUMENT, message: /P-256|curve/ },
  {
    name: 'a broken self-signature',
    csr: () => {
      const csr = csrFor(WEB);
      csr[csr.length - 5]! ^= 0xff;
      return csr;
    },
    token: WEB_TOKEN,
    code: status.INVALID_ARGUMENT,
    message: /signature/,
  },
  { name: 'garbage DER', csr: () => Buffer.from('3082ffff0102030405', 'hex'), token: WEB_TOKEN, code: status.INVALID_ARGUMENT, message: /CSR/ },
  { name: 'garbage PEM', csr: () => Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n'), token: WEB_TOKEN, code: status.INVALID_ARGUMENT, message: /CSR|PEM/ },
  { name: 'an empty CSR', csr: () => Buffer.alloc(0), token: WEB_TOKEN, code: status.INVALID_ARGUMENT, message: /CSR|empty/ },
  { name: 'an oversize CSR (under the message cap)', csr: () => Buffer.alloc(8000, 0x30), token: WEB_TOKEN, code: status.INVALID_ARGUMENT, message: /large|size|bytes/ },
  { name: 'a request over the 16 KiB message cap', csr: () => Buffer.alloc(64 * 1024, 0x41), token: WEB_TOKEN, code: status.RESOURCE_EXHAUSTED, message: /./ },
];

for (const c of cases) {
  test(`refused: ${c.name}; the service keeps serving`, async () => {
    const { error } = await client.certifyRaw(c.csr(), c.token ? { token: c.token } : {});
    assert.ok(error, 'the request must be refused');
    assert.equal(error.code, c.code, `status ${status[error.code]}: ${error.details}`);
    assert.match(error.details, c.message);
    await assertStillServing();
  });
}

test('the per-identity rate limit refuses a flood with RESOURCE_EXHAUSTED, other identities unaffected', async () => {
  const codes: (status | undefined)[] = [];
  for (let i = 0; i < 45; i++) {
    const { error } = await client.certifyRaw(csrFor('spiffe://cluster.local/ns/shop/sa/limited'), { token: LIMITED_TOKEN });
    codes.push(error?.code);
  }
  assert.equal(codes[0], undefined);
  assert.ok(codes.includes(status.RESOURCE_EXHAUSTED), 'the flood is limited');
  await assertStillServing();
});

test('the admin port serves /metrics with issuance counters and CA expiry, and /ready', async () => {
  const base = `http://127.0.0.1:${controlPlane.adminPort}`;
  assert.equal((await fetch(`${base}/ready`)).status, 200);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1]);
  assert.ok(value(/^reseal_certificates_issued_total\{auth="token"\} (\d+)/m) >= 1, text);
  assert.ok(value(/^reseal_certificates_refused_total\{reason="csr_identity"\} (\d+)/m) >= 1);
  assert.ok(value(/^reseal_certificates_refused_total\{reason="unauthenticated"\} (\d+)/m) >= 1);
  assert.ok(value(/^reseal_certificates_refused_total\{reason="rate_limited"\} (\d+)/m) >= 1);
  assert.equal(value(/^reseal_ca_root_expiry_timestamp_seconds (\d+)/m), Math.floor(controlPlane.ca().rootNotAfter.getTime() / 1000));
  assert.equal(value(/^reseal_ca_issuer_expiry_timestamp_seconds (\d+)/m), Math.floor(controlPlane.ca().issuerNotAfter.getTime() / 1000));
  assert.match(text, /^reseal_certificate_issuance_duration_seconds_bucket/m);
});
