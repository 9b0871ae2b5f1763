import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, randomBytes, sign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  BasicConstraints,
  Certificate,
  Extension,
  Extensions,
  GeneralName,
  KeyUsage,
  KeyUsageFlags,
  Name,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import { decodePemBlocks, encodePem, generateWorkloadKeyPair, readCertificateFields, readSpiffeId, readSvid } from '../src/x509/index.js';

const ID = 'spiffe://cluster.local/ns/shop/sa/web';

function extension(oid: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** A self-signed certificate with exactly the given extensions (the chain is not what is tested here). */
function certificate(extensions: Extension[]): Buffer {
  const keys = generateWorkloadKeyPair();
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array([1, 2, 3]).buffer,
    signature: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }),
    issuer: new Name(),
    validity: new Validity({ notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000) }),
    subject: new Name(),
    subjectPublicKeyInfo: AsnConvert.parse(keys.publicKey.export({ format: 'der', type: 'spki' }), SubjectPublicKeyInfo),
    extensions: new Extensions(extensions),
  });
  const tbsDer = AsnConvert.serialize(tbs);
  const cert = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }),
    signatureValue: new Uint8Array(sign('sha256', new Uint8Array(tbsDer), keys.privateKey)).buffer,
  });
  return Buffer.from(AsnConvert.serialize(cert));
}

const san = (...names: GeneralName[]) => extension('2.5.29.17', true, new SubjectAlternativeName(names));
const uri = (value: string) => new GeneralName({ uniformResourceIdentifier: value });
const leaf = extension('2.5.29.19', true, new BasicConstraints({ cA: false }));

test('reads the SPIFFE ID of a leaf SVID from DER and from X509Certificate', () => {
  const der = certificate([leaf, extension('2.5.29.15', true, new KeyUsage(KeyUsageFlags.digitalSignature)), san(uri(ID))]);
  assert.equal(readSpiffeId(der), ID);
  assert.equal(readSpiffeId(new X509Certificate(der)), ID);
  assert.deepEqual(readSvid(der), { ok: true, spiffeId: ID, trustDomain: 'cluster.local', path: '/ns/shop/sa/web' });
});

test('DNS SANs beside the one URI are allowed', () => {
  assert.equal(readSpiffeId(certificate([san(new GeneralName({ dNSName: 'web.shop.svc' }), uri(ID))])), ID);
});

test('no SAN, no URI, two URIs or a non-SPIFFE URI give null with a reason', () => {
  const cases: Array<[Buffer, RegExp]> = [
    [certificate([leaf]), /no subjectAltName/],
    [certificate([san(new GeneralName({ dNSName: 'web.shop.svc' }))]), /0 URI SANs/],
    [certificate([san(uri(ID), uri('spiffe://cluster.local/ns/shop/sa/other'))]), /2 URI SANs/],
    [certificate([san(uri('https://cluster.local/ns/shop/sa/web'))]), /not a SPIFFE ID/],
    [certificate([san(uri('spiffe://Cluster.Local/ns/shop'))]), /not a SPIFFE ID/],
    [certificate([san(uri('spiffe://cluster.local/ns/../sa/web'))]), /not a SPIFFE ID/],
  ];
  for (const [der, reason] of cases) {
    assert.equal(readSpiffeId(der), null);
    const result = readSvid(der);
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.reason, reason);
  }
});

test('a CA certificate is not an SVID, even with one SPIFFE URI', () => {
  const ca = certificate([extension('2.5.29.19', true, new BasicConstraints({ cA: true })), san(uri(ID))]);
  assert.equal(readSpiffeId(ca), null);
  const signer = certificate([leaf, extension('2.5.29.15', true, new KeyUsage(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign)), san(uri(ID))]);
  const result = readSvid(signer);
  assert.equal(result.ok, false);
  if (!result.ok) assert.match(result.reason, /keyCertSign/);
});

test('garbage never throws', () => {
  assert.equal(readSpiffeId(Buffer.alloc(0)), null);
  for (let i = 0; i < 500; i++) assert.equal(readSpiffeId(randomBytes(1 + (i % 300))), null);
  const der = certificate([san(uri(ID))]);
  for (let at = 0; at < der.length; at += 3) {
    const mutated = Buffer.from(der);
    mutated[at]! ^= 0xff;
    const result = readSvid(mutated);
    assert.ok(result.ok === false || result.spiffeId === ID);
  }
});

test('readCertificateFields exposes names, key and extension criticality byte for byte', () => {
  const der = certificate([leaf, san(uri(ID))]);
  const fields = readCertificateFields(der);
  const parsed = AsnConvert.parse(der, Certificate);
  assert.equal(fields.version, 3);
  assert.deepEqual(Buffer.from(fields.subject), Buffer.from([0x30, 0x00]));
  assert.deepEqual(Buffer.from(fields.spki), Buffer.from(AsnConvert.serialize(parsed.tbsCertificate.subjectPublicKeyInfo)));
  assert.deepEqual([...fields.extensions.keys()], ['2.5.29.19', '2.5.29.17']);
  assert.equal(fields.extensions.get('2.5.29.17')?.critical, true);
  assert.throws(() => readCertificateFields(der.subarray(0, der.length - 1)));
});

test('PEM encode/decode roundtrip; garbage bodies are refused', () => {
  const der = randomBytes(300);
  const pem = encodePem('CERTIFICATE', der);
  assert.ok(pem.split('\n').every((line) => line.length <= 64));
  const [block] = decodePemBlocks(`comment\n${pem}trailer\n${pem}`);
  assert.equal(block?.label, 'CERTIFICATE');
  assert.deepEqual(block?.der, der);
  assert.equal(decodePemBlocks(pem + pem).length, 2);
  assert.throws(() => decodePemBlocks(pem.replace(/\n[A-Za-z0-9+/]/, '\n*')), /not valid base64/);
  assert.throws(() => decodePemBlocks('-----BEGIN A-----\nAAAA\n-----END B-----\n'), /ends with/);
  assert.throws(() => decodePemBlocks('-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END EC PRIVATE KEY-----\n'), /headers/);
});
