import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createHash, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  Version,
  id_kp_clientAuth,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import { createCsr, generateWorkloadKeyPair, parseCsr, readSpiffeId } from '@reseal/core';
import { CertificateAuthority, serviceDnsNames } from '../src/ca/index.js';
import type { IssuedCertificate } from '../src/ca/index.js';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/shop/sa/web`;
const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
};

const ca = CertificateAuthority.generate({ trustDomain: TD });

// --- helpers ------------------------------------------------------------------------------

function opensslVerify(pems: { root: string; untrusted: string; leaf: string }, ...flags: string[]): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'reseal-ca-'));
  try {
    for (const [name, pem] of Object.entries(pems)) writeFileSync(join(dir, `${name}.pem`), pem);
    const run = spawnSync('openssl', ['verify', ...flags, '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'untrusted.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
    const output = `${run.stdout}${run.stderr}`;
    return { ok: run.status === 0 && /: OK\s*$/.test(run.stdout), output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function verifyWith(authority: CertificateAuthority, issued: IssuedCertificate, ...flags: string[]) {
  return opensslVerify({ root: authority.trustBundlePem, untrusted: authority.issuerChainPem, leaf: issued.certPem }, ...flags);
}

function extensionsOf(der: Buffer) {
  const cert = AsnConvert.parse(der, Certificate);
  const byOid = new Map(cert.tbsCertificate.extensions!.map((e) => [e.extnID, e]));
  const get = <T>(oid: string, type: new () => T): { critical: boolean; value: T } => {
    const ext = byOid.get(oid);
    assert.ok(ext, `extension ${oid} missing`);
    return { critical: ext.critical, value: AsnConvert.parse(ext.extnValue.buffer, type) };
  };
  return { cert, oids: [...byOid.keys()], get };
}

function issueFromCsr(authority = ca, spiffeId = ID, ttlSeconds?: number, now?: Date): { issued: IssuedCertificate; keys: { privateKey: KeyObject; publicKey: KeyObject } } {
  const keys = generateWorkloadKeyPair();
  const { publicKey } = parseCsr(createCsr(keys.privateKey, keys.publicKey, spiffeId), spiffeId);
  return { issued: authority.issueWorkloadSvid({ publicKey, spiffeId, ...(ttlSeconds === undefined ? {} : { ttlSeconds }), ...(now === undefined ? {} : { now }) }), keys };
}

const seconds = (d: Date) => d.getTime() / 1000;

// --- the X.509-SVID profile -----------------------------------------------------------------

test('an issued SVID follows every X.509-SVID rule', () => {
  const now = new Date();
  const { issued, keys } = issueFromCsr(ca, ID, undefined, now);
  const x509 = new X509Certificate(issued.certDer);
  const { cert, oids, get } = extensionsOf(issued.certDer);
  const tbs = cert.tbsCertificate;

  assert.equal(tbs.version, Version.v3, 'v3');

  const serial = Buffer.from(tbs.serialNumber);
  assert.ok(serial.length >= 9 && serial.length <= 20, 'serial carries ≥ 64 bits and fits 20 octets');
  assert.equal(serial[0]! & 0x80, 0, 'serial is positive');
  assert.equal(issued.serial, x509.serialNumber);

  assert.equal(tbs.subject.length, 0, 'subject is empty');
  assert.ok(!x509.subject, 'node sees no subject');

  const san = get(OID.subjectAltName, SubjectAlternativeName);
  assert.equal(san.critical, true, 'SAN is critical because the subject is empty');
  assert.equal(san.value.length, 1, 'exactly one SAN');
  assert.equal(san.value[0]!.uniformResourceIdentifier, ID);

  const keyUsage = get(OID.keyUsage, KeyUsage);
  assert.equal(keyUsage.critical, true, 'KeyUsage is critical');
  assert.equal(keyUsage.value.toNumber(), KeyUsageFlags.digitalSignature, 'digitalSignature only');

  const basic = get(OID.basicConstraints, BasicConstraints);
  assert.equal(basic.critical, true, 'basicConstraints is critical');
  assert.equal(basic.value.cA, false);
  assert.equal(basic.value.pathLenConstraint, undefined);
  assert.equal(x509.ca, false);

  const eku = get(OID.extKeyUsage, ExtendedKeyUsage);
  assert.deepEqual([...eku.value].sort(), [id_kp_serverAuth, id_kp_clientAuth].sort());

  const issuerSki = extensionsOf(ca.issuerCertificate.raw).get(OID.subjectKeyIdentifier, SubjectKeyIdentifier).value;
  const aki = get(OID.authorityKeyIdentifier, AuthorityKeyIdentifier).value;
  assert.deepEqual(Buffer.from(aki.keyIdentifier!.buffer), Buffer.from(issuerSki.buffer), 'AKI = issuer SKI');

  const point = Buffer.from(tbs.subjectPublicKeyInfo.subjectPublicKey);
  const ski = get(OID.subjectKeyIdentifier, SubjectKeyIdentifier).value;
  assert.deepEqual(Buffer.from(ski.buffer), createHash('sha1').update(point).digest(), 'SKI = SHA-1 of the leaf key');

  assert.deepEqual(oids.sort(), Object.values(OID).filter((o) => o !== OID.ecdsaWithSha256).sort(), 'no other extensions');

  assert.equal(cert.signatureAlgorithm.algorithm, OID.ecdsaWithSha256);
  assert.equal(tbs.signature.algorithm, OID.ecdsaWithSha256);
  assert.equal(cert.signatureAlgorithm.parameters, undefined, 'ecdsa-with-SHA256 has no parameters');
  assert.ok(x509.verify(ca.issuerCertificate.publicKey), 'signed by the issuer');
  assert.ok(x509.checkIssued(ca.issuerCertificate));
  assert.ok(x509.publicKey.equals(keys.publicKey), 'certifies the CSR key');
  assert.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(x509.checkPrivateKey(keys.privateKey));

  // NotBefore back-dated 60 s (whole seconds), NotAfter = now + default 1 h.
  const nowSeconds = Math.floor(seconds(now));
  assert.equal(seconds(issued.notBefore), nowSeconds - 60);
  assert.equal(seconds(issued.notAfter), nowSeconds + 3600);
  assert.equal(x509.validFromDate.getTime(), issued.notBefore.getTime());
  assert.equal(x509.validToDate.getTime(), issued.notAfter.getTime());

  assert.equal(readSpiffeId(x509), ID, '@reseal/core reads the identity back');
});

test('certPem, chainPem and certDer agree; the chain is leaf then issuer, no root', () => {
  const { issued } = issueFromCsr();
  assert.deepEqual(new X509Certificate(issued.certPem).raw, issued.certDer);
  const chain = issued.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  assert.equal(chain.length, 2);
  assert.deepEqual(new X509Certificate(chain[0]!).raw, issued.certDer);
  assert.deepEqual(new X509Certificate(chain[1]!).raw, ca.issuerCertificate.raw);
  assert.ok(!issued.chainPem.includes(ca.trustBundlePem.trim()));
});

test('openssl verify accepts the SVID as is, as a TLS client and as a TLS server', () => {
  const { issued } = issueFromCsr();
  for (const flags of [[], ['-purpose', 'sslclient'], ['-purpose', 'sslserver'], ['-x509_strict']]) {
    const result = verifyWith(ca, issued, ...flags);
    assert.ok(result.ok, `openssl verify ${flags.join(' ')}: ${result.output}`);
  }
});

test('openssl verify rejects the SVID against another CA', () => {
  const other = CertificateAuthority.generate({ trustDomain: TD });
  const { issued } = issueFromCsr();
  assert.equal(opensslVerify({ root: other.trustBundlePem, untrusted: ca.issuerChainPem, leaf: issued.certPem }).ok, false);
});

test('the issuer only signs its own trust domain: API check and name constraints', () => {
  assert.throws(() => issueFromCsr(ca, 'spiffe://evil.example/ns/shop/sa/web'), /not in this CA's trust domain cluster\.local/);
  // Without the API check (material loaded with no trust domain), the name constraint still holds.
  const unchecked = CertificateAuthority.fromPem({ issuerCertPem: ca.toPem()['tls.crt'], issuerKeyPem: ca.toPem()['tls.key'], caBundlePem: ca.trustBundlePem });
  const foreign = issueFromCsr(unchecked, 'spiffe://evil.example/ns/shop/sa/web').issued;
  const result = verifyWith(ca, foreign);
  assert.equal(result.ok, false);
  assert.match(result.output, /permitted subtree violation/);
  assert.ok(verifyWith(ca, issueFromCsr(unchecked, ID).issued).ok);
});

// --- validity -----------------------------------------------------------------------------

test('TTL: default 3600 s, any whole number from 60 to 86400 s', () => {
  const now = new Date();
  for (const ttl of [60, 61, 600, 86_400]) {
    const { issued } = issueFromCsr(ca, ID, ttl, now);
    assert.equal(seconds(issued.notAfter), Math.floor(seconds(now)) + ttl);
  }
});

test('TTL outside 60..86400 s is a RangeError', () => {
  const { publicKey } = generateWorkloadKeyPair();
  for (const ttlSeconds of [0, 59, 86_401, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 365 * 86_400]) {
    assert.throws(() => ca.issueWorkloadSvid({ publicKey, spiffeId: ID, ttlSeconds }), RangeError, `ttl ${ttlSeconds}`);
  }
});

test('NotBefore is back-dated 60 s but never before the issuer NotBefore', () => {
  const created = new Date('2030-01-01T00:00:00.500Z');
  const fresh = CertificateAuthority.generate({ trustDomain: TD, now: created });
  assert.equal(fresh.issuerCertificate.validFromDate.toISOString(), '2029-12-31T23:59:00.000Z');

  const later = issueFromCsr(fresh, ID, 3600, new Date('2030-01-01T00:10:00.900Z')).issued;
  assert.equal(later.notBefore.toISOString(), '2030-01-01T00:09:00.000Z');

  // 30 s after the issuer came into force: back-dating stops at the issuer's NotBefore.
  const early = issueFromCsr(fresh, ID, 3600, new Date('2029-12-31T23:59:30.000Z')).issued;
  assert.equal(early.notBefore.toISOString(), '2029-12-31T23:59:00.000Z');
  assert.ok(verifyWith(fresh, early, '-attime', String(Date.parse('2029-12-31T23:59:31Z') / 1000)).ok);
});

test('NotAfter is clamped to the issuer NotAfter, and the clamped leaf verifies', () => {
  const created = new Date('2030-06-01T00:00:00Z');
  const shortLived = CertificateAuthority.generate({ trustDomain: TD, issuerTtlSeconds: 86_400, now: created });
  assert.equal(shortLived.issuerNotAfter.toISOString(), '2030-06-02T00:00:00.000Z');
  const late = new Date(shortLived.issuerNotAfter.getTime() - 1800_000);
  const { issued } = issueFromCsr(shortLived, ID, 3600, late);
  assert.equal(issued.notAfter.getTime(), shortLived.issuerNotAfter.getTime());
  assert.equal(new X509Certificate(issued.certDer).validToDate.getTime(), shortLived.issuerNotAfter.getTime());
  assert.ok(verifyWith(shortLived, issued, '-attime', String(seconds(late))).ok);
});

test('issuing with an expired or not yet valid issuer fails with a clear error', () => {
  const created = new Date('2030-06-01T00:00:00Z');
  const authority = CertificateAuthority.generate({ trustDomain: TD, issuerTtlSeconds: 86_400, now: created });
  const { publicKey } = generateWorkloadKeyPair();
  assert.throws(() => authority.issueWorkloadSvid({ publicKey, spiffeId: ID, now: new Date('2030-06-03T00:00:00Z') }), /expired at 2030-06-02T00:00:00\.000Z/);
  assert.throws(() => authority.issueWorkloadSvid({ publicKey, spiffeId: ID, now: new Date('2030-05-01T00:00:00Z') }), /not valid before/);
});

test('UTCTime through 2049, GeneralizedTime from 2050', () => {
  const created = new Date('2049-12-31T12:00:00Z');
  const authority = CertificateAuthority.generate({ trustDomain: TD, now: created });
  const { issued } = issueFromCsr(authority, ID, 86_400, new Date('2049-12-31T12:00:00Z'));
  const validity = AsnConvert.parse(issued.certDer, Certificate).tbsCertificate.validity;
  assert.ok(validity.notBefore.utcTime && !validity.notBefore.generalTime);
  assert.ok(validity.notAfter.generalTime && !validity.notAfter.utcTime);
  assert.equal(new X509Certificate(issued.certDer).validToDate.toISOString(), '2050-01-01T12:00:00.000Z');
});

// --- freshness and inputs --------------------------------------------------------------------

test('every issuance has a new serial; every rotation a new key', () => {
  const serials = new Set<string>();
  const keys = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const { issued } = issueFromCsr();
    serials.add(issued.serial);
    keys.add(new X509Certificate(issued.certDer).publicKey.export({ format: 'jwk' }).x!);
  }
  assert.equal(serials.size, 50);
  assert.equal(keys.size, 50);
  const { publicKey } = generateWorkloadKeyPair();
  const a = ca.issueWorkloadSvid({ publicKey, spiffeId: ID });
  const b = ca.issueWorkloadSvid({ publicKey, spiffeId: ID });
  assert.notEqual(a.serial, b.serial);
});

test('a key that is not a P-256 public key, or an invalid SPIFFE ID, is refused', () => {
  const { privateKey, publicKey } = generateWorkloadKeyPair();
  assert.throws(() => ca.issueWorkloadSvid({ publicKey: privateKey, spiffeId: ID }), TypeError);
  assert.throws(() => ca.issueWorkloadSvid({ publicKey: generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey, spiffeId: ID }), /P-256/);
  assert.throws(() => ca.issueWorkloadSvid({ publicKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, spiffeId: ID }), /P-256/);
  assert.throws(() => ca.issueWorkloadSvid({ publicKey: generateKeyPairSync('ed25519').publicKey, spiffeId: ID }), /P-256/);
  for (const spiffeId of ['', 'https://cluster.local/x', 'spiffe://cluster.local/ns/../sa/x', 'spiffe://cluster.local/ns/a b']) {
    assert.throws(() => ca.issueWorkloadSvid({ publicKey, spiffeId }));
  }
});

test('a key not from a CSR (exported on demand) gives the same certificate key', () => {
  const { publicKey } = generateWorkloadKeyPair();
  const issued = ca.issueWorkloadSvid({ publicKey, spiffeId: ID });
  assert.ok(new X509Certificate(issued.certDer).publicKey.equals(publicKey));
});

// --- serving certificates ------------------------------------------------------------------

test('a serving certificate carries the DNS names and the SPIFFE ID and verifies as sslserver', () => {
  const { publicKey } = generateWorkloadKeyPair();
  const dnsNames = serviceDnsNames('reseal-control-plane', 'reseal-system');
  assert.deepEqual(dnsNames, [
    'reseal-control-plane',
    'reseal-control-plane.reseal-system',
    'reseal-control-plane.reseal-system.svc',
    'reseal-control-plane.reseal-system.svc.cluster.local',
  ]);
  const spiffeId = `spiffe://${TD}/ns/reseal-system/sa/reseal-control-plane`;
  const now = new Date();
  const issued = ca.issueServingCertificate({ publicKey, dnsNames, spiffeId, now });
  const x509 = new X509Certificate(issued.certDer);
  const { get } = extensionsOf(issued.certDer);
  const san = get(OID.subjectAltName, SubjectAlternativeName);
  assert.equal(san.critical, true);
  assert.deepEqual([...san.value].filter((n) => n.dNSName).map((n) => n.dNSName), dnsNames);
  assert.deepEqual([...san.value].filter((n) => n.uniformResourceIdentifier).map((n) => n.uniformResourceIdentifier), [spiffeId]);
  assert.equal(x509.checkHost('reseal-control-plane.reseal-system.svc'), 'reseal-control-plane.reseal-system.svc');
  assert.ok(!x509.subject);
  assert.equal(x509.ca, false);
  assert.deepEqual([...get(OID.extKeyUsage, ExtendedKeyUsage).value].sort(), [id_kp_serverAuth, id_kp_clientAuth].sort());
  assert.equal(get(OID.keyUsage, KeyUsage).value.toNumber(), KeyUsageFlags.digitalSignature);
  assert.equal(seconds(issued.notAfter), Math.floor(seconds(now)) + 30 * 86_400);
  assert.equal(readSpiffeId(x509), spiffeId);
  for (const flags of [['-purpose', 'sslserver'], ['-x509_strict']]) {
    const result = verifyWith(ca, issued, ...flags);
    assert.ok(result.ok, result.output);
  }
});

test('a serving certificate without clientAuth or SPIFFE ID; bad names and TTLs are refused', () => {
  const { publicKey } = generateWorkloadKeyPair();
  const issued = ca.issueServingCertificate({ publicKey, dnsNames: ['webhook.reseal-system.svc'], clientAuth: false, ttlSeconds: 3600 });
  const { get, oids } = extensionsOf(issued.certDer);
  assert.deepEqual([...get(OID.extKeyUsage, ExtendedKeyUsage).value], [id_kp_serverAuth]);
  assert.ok(oids.includes(OID.subjectAltName));
  assert.equal(verifyWith(ca, issued, '-purpose', 'sslclient').ok, false);
  assert.ok(verifyWith(ca, issued, '-purpose', 'sslserver').ok);

  for (const dnsNames of [[], ['UPPER.example'], ['*.reseal-system.svc'], ['a..b'], ['-x.svc'], ['x'.repeat(64)]]) {
    assert.throws(() => ca.issueServingCertificate({ publicKey, dnsNames }), TypeError, JSON.stringify(dnsNames));
  }
  assert.throws(() => ca.issueServingCertificate({ publicKey, dnsNames: ['a.svc'], ttlSeconds: 366 * 86_400 }), RangeError);
  assert.throws(() => ca.issueServingCertificate({ publicKey, dnsNames: ['a.svc'], spiffeId: 'spiffe://other.td/ns/a/sa/b' }), /trust domain/);
});
