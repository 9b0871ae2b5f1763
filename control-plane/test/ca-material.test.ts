import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateWorkloadKeyPair } from '@reseal/core';
import { CaMaterialError, CertificateAuthority } from '../src/ca/index.js';
import type { CaFromPemOptions } from '../src/ca/index.js';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/shop/sa/web`;

const ca = CertificateAuthority.generate({ trustDomain: TD });
const secret = ca.toPem();

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'reseal-ca-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function opensslVerify(root: string, untrusted: string, leaf: string): { ok: boolean; output: string } {
  return withTempDir((dir) => {
    writeFileSync(join(dir, 'root.pem'), root);
    writeFileSync(join(dir, 'untrusted.pem'), untrusted);
    writeFileSync(join(dir, 'leaf.pem'), leaf);
    const run = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'untrusted.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
    return { ok: run.status === 0, output: run.stdout + run.stderr };
  });
}

function issue(authority: CertificateAuthority) {
  return authority.issueWorkloadSvid({ publicKey: generateWorkloadKeyPair().publicKey, spiffeId: ID });
}

function assertMaterialError(options: CaFromPemOptions, message: RegExp): void {
  assert.throws(
    () => CertificateAuthority.fromPem(options),
    (err: unknown) => {
      assert.ok(err instanceof CaMaterialError, `expected CaMaterialError, got ${String(err)}`);
      assert.match(err.message, message);
      return true;
    },
  );
}

/**
 * A cert-manager-like bring-your-own hierarchy made by the openssl CLI, independent of our
 * encoder: root → intermediate → issuer, all ECDSA P-256 unless told otherwise.
 */
function opensslHierarchy(options: { issuerKeyType?: 'ec' | 'rsa'; issuerExtensions?: string } = {}) {
  return withTempDir((dir) => {
    const path = (name: string) => join(dir, name);
    const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    const ca = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';
    writeFileSync(path('ca.ext'), ca);
    writeFileSync(path('issuer.ext'), options.issuerExtensions ?? 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    run(['req', '-x509', ...ecKey, '-nodes', '-keyout', path('root.key'), '-out', path('root.pem'), '-subj', '/O=BYO/CN=BYO Root', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    run(['req', '-new', ...ecKey, '-nodes', '-keyout', path('mid.key'), '-out', path('mid.csr'), '-subj', '/O=BYO/CN=BYO Intermediate']);
    run(['x509', '-req', '-in', path('mid.csr'), '-CA', path('root.pem'), '-CAkey', path('root.key'), '-CAcreateserial', '-days', '30', '-extfile', path('ca.ext'), '-out', path('mid.pem')]);
    const issuerKey = options.issuerKeyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ecKey;
    run(['req', '-new', ...issuerKey, '-nodes', '-keyout', path('issuer.key'), '-out', path('issuer.csr'), '-subj', '/O=BYO/CN=BYO Issuer']);
    run(['x509', '-req', '-in', path('issuer.csr'), '-CA', path('mid.pem'), '-CAkey', path('mid.key'), '-CAcreateserial', '-days', '30', '-extfile', path('issuer.ext'), '-out', path('issuer.pem')]);
    const read = (name: string) => readFileSync(path(name), 'utf8');
    return { root: read('root.pem'), intermediate: read('mid.pem'), issuer: read('issuer.pem'), issuerKey: read('issuer.key') };
  });
}

// --- generate --------------------------------------------------------------------------------

test('a generated CA: root and issuer shapes, expiries and PEM accessors', () => {
  const now = new Date('2031-03-01T00:00:00Z');
  const authority = CertificateAuthority.generate({ trustDomain: TD, rootTtlSeconds: 20 * 86_400, issuerTtlSeconds: 10 * 86_400, now });
  const [root] = authority.rootCertificates;
  assert.ok(root && root.ca && root.checkIssued(root) && root.verify(root.publicKey));
  assert.match(root.subject, /O=Reseal/);
  assert.match(root.subject, /CN=Reseal Root CA/);
  assert.ok(authority.issuerCertificate.ca);
  assert.ok(authority.issuerCertificate.checkIssued(root) && authority.issuerCertificate.verify(root.publicKey));
  assert.equal(authority.rootNotAfter.toISOString(), '2031-03-21T00:00:00.000Z');
  assert.equal(authority.issuerNotAfter.toISOString(), '2031-03-11T00:00:00.000Z');
  assert.equal(authority.trustDomain, TD);
  assert.equal(new X509Certificate(authority.trustBundlePem).fingerprint256, root.fingerprint256);
  assert.equal(new X509Certificate(authority.issuerChainPem).fingerprint256, authority.issuerCertificate.fingerprint256);
  const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: authority.issuerChainPem }).toString();
  assert.match(text, /CA:TRUE, pathlen:0/);
  assert.match(text, /Certificate Sign, CRL Sign/);
  assert.match(text, /Permitted:\s+URI:cluster\.local/);
  assert.match(execFileSync('openssl', ['x509', '-noout', '-text'], { input: authority.trustBundlePem }).toString(), /Basic Constraints: critical\s+CA:TRUE\s/);
});

test('generate: issuer TTL is clamped to the root, bad TTLs and trust domains are refused', () => {
  const now = new Date('2031-03-01T00:00:00Z');
  const clamped = CertificateAuthority.generate({ trustDomain: TD, rootTtlSeconds: 5 * 86_400, issuerTtlSeconds: 50 * 86_400, now });
  assert.equal(clamped.issuerNotAfter.getTime(), clamped.rootNotAfter.getTime());
  assert.throws(() => CertificateAuthority.generate({ trustDomain: TD, rootTtlSeconds: 3600 }), RangeError);
  assert.throws(() => CertificateAuthority.generate({ trustDomain: TD, issuerTtlSeconds: 1.5 }), RangeError);
  assert.throws(() => CertificateAuthority.generate({ trustDomain: 'Not A Domain' }));
  const unconstrained = CertificateAuthority.generate({ trustDomain: TD, nameConstraints: false });
  assert.doesNotMatch(execFileSync('openssl', ['x509', '-noout', '-text'], { input: unconstrained.issuerChainPem }).toString(), /Name Constraints/);
});

// --- fromPem ------------------------------------------------------------------------------

test('toPem → fromPem roundtrip: the same CA, interchangeable with the original', () => {
  assert.match(secret['tls.key'], /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(secret['ca.crt'], ca.trustBundlePem);
  assert.equal(secret['tls.crt'], ca.issuerChainPem);
  const loaded = CertificateAuthority.fromPem({ issuerCertPem: secret['tls.crt'], issuerKeyPem: secret['tls.key'], caBundlePem: secret['ca.crt'], trustDomain: TD });
  assert.deepEqual(loaded.toPem(), secret);
  assert.equal(loaded.issuerNotAfter.getTime(), ca.issuerNotAfter.getTime());
  assert.equal(loaded.rootNotAfter.getTime(), ca.rootNotAfter.getTime());
  const issued = issue(loaded);
  assert.ok(new X509Certificate(issued.certDer).verify(ca.issuerCertificate.publicKey));
  assert.ok(opensslVerify(ca.trustBundlePem, ca.issuerChainPem, issued.certPem).ok);
  assert.throws(() => loaded.issueWorkloadSvid({ publicKey: generateWorkloadKeyPair().publicKey, spiffeId: 'spiffe://other.td/ns/a/sa/b' }), /trust domain/);
});

test('fromPem accepts a SEC1 "EC PRIVATE KEY"', () => {
  const key = ca.toPem()['tls.key'];
  const sec1 = execFileSync('openssl', ['ec', '-outform', 'PEM'], { input: key, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  assert.match(sec1, /BEGIN EC PRIVATE KEY/);
  const loaded = CertificateAuthority.fromPem({ issuerCertPem: secret['tls.crt'], issuerKeyPem: sec1, caBundlePem: secret['ca.crt'] });
  assert.ok(opensslVerify(ca.trustBundlePem, ca.issuerChainPem, issue(loaded).certPem).ok);
});

test('fromPem with a key that does not match the issuer certificate', () => {
  const other = CertificateAuthority.generate({ trustDomain: TD }).toPem();
  assertMaterialError({ issuerCertPem: secret['tls.crt'], issuerKeyPem: other['tls.key'], caBundlePem: secret['ca.crt'] }, /tls\.key does not match the certificate in tls\.crt/);
});

test('fromPem with a non-CA issuer (a leaf certificate and its key)', () => {
  const keys = generateWorkloadKeyPair();
  const leaf = ca.issueWorkloadSvid({ publicKey: keys.publicKey, spiffeId: ID });
  assertMaterialError(
    { issuerCertPem: leaf.certPem, issuerKeyPem: keys.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, caBundlePem: secret['ca.crt'] },
    /tls\.crt issuer certificate .* is not a CA/,
  );
});

test('fromPem with a CA issuer whose keyUsage forbids certificate signing', () => {
  const byo = opensslHierarchy({ issuerExtensions: 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\n' });
  assertMaterialError({ issuerCertPem: byo.issuer + byo.intermediate, issuerKeyPem: byo.issuerKey, caBundlePem: byo.root }, /lacks keyCertSign/);
});

test('fromPem with an issuer that does not chain to the bundle', () => {
  const stranger = CertificateAuthority.generate({ trustDomain: TD });
  assertMaterialError({ issuerCertPem: secret['tls.crt'], issuerKeyPem: secret['tls.key'], caBundlePem: stranger.trustBundlePem }, /does not chain to any certificate in ca\.crt/);
  // The intermediate is missing from tls.crt and chainPem.
  const byo = opensslHierarchy();
  assertMaterialError({ issuerCertPem: byo.issuer, issuerKeyPem: byo.issuerKey, caBundlePem: byo.root }, /does not chain.*BYO Root/);
});

test('a bundle with two roots works; rootNotAfter is the earliest', () => {
  const now = new Date();
  const older = CertificateAuthority.generate({ trustDomain: TD, rootTtlSeconds: 30 * 86_400, now });
  const newer = CertificateAuthority.generate({ trustDomain: TD, rootTtlSeconds: 3650 * 86_400, now });
  const bundle = older.trustBundlePem + newer.trustBundlePem;
  for (const source of [older, newer]) {
    const pem = source.toPem();
    const loaded = CertificateAuthority.fromPem({ issuerCertPem: pem['tls.crt'], issuerKeyPem: pem['tls.key'], caBundlePem: bundle, trustDomain: TD });
    assert.equal(loaded.rootCertificates.length, 2);
    assert.equal(loaded.trustBundlePem, bundle);
    assert.equal(loaded.rootNotAfter.getTime(), older.rootNotAfter.getTime());
    // Peers holding the two-root bundle accept leaves from either issuer during a rotation.
    const verified = opensslVerify(bundle, loaded.issuerChainPem, issue(loaded).certPem);
    assert.ok(verified.ok, verified.output);
  }
});

test('a three-level hierarchy from the openssl CLI, with the intermediate in tls.crt or in chainPem', () => {
  const byo = opensslHierarchy();
  for (const options of [
    { issuerCertPem: byo.issuer + byo.intermediate, issuerKeyPem: byo.issuerKey, caBundlePem: byo.root },
    { issuerCertPem: byo.issuer, chainPem: byo.intermediate, issuerKeyPem: byo.issuerKey, caBundlePem: byo.root },
  ]) {
    const loaded = CertificateAuthority.fromPem(options);
    assert.equal(loaded.trustDomain, undefined);
    assert.equal(loaded.intermediateCertificates.length, 1);
    const chain = loaded.issuerChainPem.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
    assert.equal(chain.length, 2, 'issuer + intermediate, no root');
    assert.equal(loaded.toPem()['tls.crt'], loaded.issuerChainPem);
    const issued = issue(loaded);
    assert.equal((issued.chainPem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 3);
    const verified = opensslVerify(byo.root, loaded.issuerChainPem, issued.certPem);
    assert.ok(verified.ok, verified.output);
  }
});

test('an issuer that is itself the trust anchor is accepted (single-level CA)', () => {
  const byo = opensslHierarchy();
  // Treat the intermediate as a root: tls.crt = ca.crt = the issuer.
  const loaded = CertificateAuthority.fromPem({ issuerCertPem: byo.issuer, issuerKeyPem: byo.issuerKey, caBundlePem: byo.issuer });
  assert.equal(loaded.intermediateCertificates.length, 0);
  assert.ok(new X509Certificate(issue(loaded).certDer).verify(loaded.issuerCertificate.publicKey));
});

test('fromPem refuses RSA and encrypted issuer keys with a hint', () => {
  const rsa = opensslHierarchy({ issuerKeyType: 'rsa' });
  assertMaterialError({ issuerCertPem: rsa.issuer + rsa.intermediate, issuerKeyPem: rsa.issuerKey, caBundlePem: rsa.root }, /RSA key; the issuing CA must be ECDSA P-256/);
  const encrypted = execFileSync('openssl', ['pkcs8', '-topk8', '-passout', 'pass:secret', '-v2', 'aes-256-cbc'], { input: secret['tls.key'] }).toString();
  assertMaterialError({ issuerCertPem: secret['tls.crt'], issuerKeyPem: encrypted, caBundlePem: secret['ca.crt'] }, /encrypted/);
});

test('fromPem refuses expired and not yet valid issuers', () => {
  const options = { issuerCertPem: secret['tls.crt'], issuerKeyPem: secret['tls.key'], caBundlePem: secret['ca.crt'] };
  assertMaterialError({ ...options, now: new Date(ca.issuerNotAfter.getTime() + 1000) }, /expired at/);
  assertMaterialError({ ...options, now: new Date(ca.issuerCertificate.validFromDate.getTime() - 1000) }, /not valid until/);
});

test('fromPem with garbage or misplaced PEM says which field is wrong', () => {
  const good = { issuerCertPem: secret['tls.crt'], issuerKeyPem: secret['tls.key'], caBundlePem: secret['ca.crt'] };
  assertMaterialError({ ...good, issuerCertPem: 'not pem' }, /tls\.crt is not PEM certificates/);
  assertMaterialError({ ...good, issuerCertPem: secret['tls.key'] }, /tls\.crt.*unexpected PEM block "PRIVATE KEY"/);
  assertMaterialError({ ...good, caBundlePem: '' }, /ca\.crt/);
  assertMaterialError({ ...good, issuerKeyPem: secret['tls.crt'] }, /tls\.key/);
  assertMaterialError({ ...good, issuerKeyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }, /tls\.key cannot be read/);
  assertMaterialError({ ...good, issuerCertPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }, /tls\.crt certificate 1 is not a valid X\.509 certificate/);
  assertMaterialError({ ...good, caBundlePem: secret['ca.crt'] + secret['tls.crt'].replace(/CERTIFICATE-----\n[A-Za-z0-9+/]{8}/, 'CERTIFICATE-----\nAAAAAAAA') }, /ca\.crt certificate 2/);
});
