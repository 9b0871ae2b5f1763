import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  Attribute,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Extension,
  Extensions,
  GeneralName,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { CsrRejectedError, DEFAULT_MAX_CSR_BYTES, createCsr, encodePem, generateWorkloadKeyPair, parseCsr } from '../src/x509/index.js';
import type { CsrRejectionCode } from '../src/x509/index.js';

const ID = 'spiffe://cluster.local/ns/shop/sa/web';
const OTHER_ID = 'spiffe://cluster.local/ns/kube-system/sa/admin';

// --- crafting CSRs the sidecar would never send -------------------------------------------

interface CraftOptions {
  readonly keys?: { privateKey: KeyObject; publicKey: KeyObject };
  readonly sans?: GeneralName[] | null;
  readonly sanCritical?: boolean;
  readonly extraExtensions?: Extension[];
  readonly attributes?: Attribute[];
  readonly subject?: Name;
  readonly signatureAlgorithm?: string;
  readonly hash?: 'sha256' | 'sha384';
}

function extension(oid: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function craftCsr(options: CraftOptions = {}): Buffer {
  const keys = options.keys ?? generateWorkloadKeyPair();
  const sans = options.sans === undefined ? [new GeneralName({ uniformResourceIdentifier: ID })] : options.sans;
  const extensions: Extension[] = [];
  if (sans !== null) extensions.push(extension('2.5.29.17', options.sanCritical ?? true, new SubjectAlternativeName(sans)));
  extensions.push(...(options.extraExtensions ?? []));
  const attributes = options.attributes ?? (extensions.length === 0 ? [] : [new Attribute({ type: '1.2.840.113549.1.9.14', values: [AsnConvert.serialize(new Extensions(extensions))] })]);
  const info = new CertificationRequestInfo({
    version: 0,
    subject: options.subject ?? new Name(),
    subjectPKInfo: AsnConvert.parse(keys.publicKey.export({ format: 'der', type: 'spki' }), SubjectPublicKeyInfo),
    attributes: new Attributes(attributes),
  });
  const infoDer = Buffer.from(AsnConvert.serialize(info));
  const signature = sign(options.hash ?? 'sha256', infoDer, keys.privateKey);
  return assemble(infoDer, new AlgorithmIdentifier({ algorithm: options.signatureAlgorithm ?? '1.2.840.10045.4.3.2' }), signature);
}

/** CertificationRequest around an already encoded info, so that tests control the exact bytes. */
function assemble(infoDer: Buffer, algorithm: AlgorithmIdentifier, signature: Uint8Array): Buffer {
  const csr = new CertificationRequest({
    certificationRequestInfo: AsnConvert.parse(infoDer, CertificationRequestInfo),
    signatureAlgorithm: algorithm,
    signature: new Uint8Array(signature).buffer,
  });
  return Buffer.from(AsnConvert.serialize(csr));
}

function openssl(args: string[]): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'reseal-csr-'));
  try {
    const out = join(dir, 'req.der');
    execFileSync('openssl', [...args, '-nodes', '-keyout', join(dir, 'key.pem'), '-outform', 'DER', '-out', out], { stdio: 'pipe' });
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertRejected(input: unknown, code: CsrRejectionCode, message: RegExp, expected = ID): void {
  assert.throws(
    () => parseCsr(input as Buffer, expected),
    (err: unknown) => {
      assert.ok(err instanceof CsrRejectedError, `expected CsrRejectedError, got ${String(err)}`);
      assert.equal(err.code, code, `code for: ${err.message}`);
      assert.match(err.message, message);
      return true;
    },
  );
}

function freshCsr(): Buffer {
  const keys = generateWorkloadKeyPair();
  return createCsr(keys.privateKey, keys.publicKey, ID);
}

// --- accepted --------------------------------------------------------------------------

test('createCsr → parseCsr roundtrip returns the same key and ID (DER, PEM string, PEM bytes)', () => {
  const keys = generateWorkloadKeyPair();
  const der = createCsr(keys.privateKey, keys.publicKey, ID);
  const pem = encodePem('CERTIFICATE REQUEST', der);
  for (const input of [der, pem, Buffer.from(pem), new Uint8Array(der)]) {
    const parsed = parseCsr(input, ID);
    assert.equal(parsed.spiffeId, ID);
    assert.ok(parsed.publicKey.equals(keys.publicKey));
    assert.equal(parsed.publicKey.type, 'public');
  }
});

test('createCsr output is a standard PKCS#10 request that openssl verifies', () => {
  const keys = generateWorkloadKeyPair();
  const text = execFileSync('openssl', ['req', '-inform', 'DER', '-noout', '-text', '-verify'], {
    input: createCsr(keys.privateKey, keys.publicKey, ID),
    stdio: ['pipe', 'pipe', 'pipe'],
  }).toString();
  assert.match(text, /Subject:\s*\n/);
  assert.match(text, /Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web\s/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /NIST CURVE: P-256/);
});

test('createCsr refuses a malformed ID and non-P-256 keys', () => {
  const keys = generateWorkloadKeyPair();
  assert.throws(() => createCsr(keys.privateKey, keys.publicKey, 'https://cluster.local/x'));
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  assert.throws(() => createCsr(p384.privateKey, p384.publicKey, ID), TypeError);
  assert.throws(() => createCsr(keys.privateKey, generateWorkloadKeyPair().publicKey, ID), /do not belong together/);
});

test('a P-256 CSR made by the openssl CLI is accepted', () => {
  const der = openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/', '-addext', `subjectAltName=critical,URI:${ID}`]);
  assert.equal(parseCsr(der, ID).spiffeId, ID);
});

test('the subject of a CSR is ignored (certificates are issued with an empty subject)', () => {
  const subject = new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: '2.5.4.3', value: new AttributeValue({ utf8String: 'admin' }) })])]);
  assert.equal(parseCsr(craftCsr({ subject }), ID).spiffeId, ID);
});

test('a non-critical SAN is accepted: criticality is the CA\'s decision', () => {
  assert.equal(parseCsr(craftCsr({ sanCritical: false }), ID).spiffeId, ID);
});

// --- PERMISSION_DENIED: well-formed, asks for more than the caller is --------------------

test('another identity is PERMISSION_DENIED and the message names it', () => {
  assertRejected(craftCsr({ sans: [new GeneralName({ uniformResourceIdentifier: OTHER_ID })] }), 'PERMISSION_DENIED', /kube-system\/sa\/admin.*caller is spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web/);
});

test('a look-alike identity is PERMISSION_DENIED (exact comparison)', () => {
  for (const id of [`${ID}/`, `${ID}x`, ID.toUpperCase(), 'spiffe://cluster.local/ns/shop/sa/web/../admin', 'https://cluster.local/ns/shop/sa/web']) {
    assertRejected(craftCsr({ sans: [new GeneralName({ uniformResourceIdentifier: id })] }), 'PERMISSION_DENIED', /requests identity/);
  }
});

test('two URI SANs (own + another) is PERMISSION_DENIED', () => {
  const sans = [new GeneralName({ uniformResourceIdentifier: ID }), new GeneralName({ uniformResourceIdentifier: OTHER_ID })];
  assertRejected(craftCsr({ sans }), 'PERMISSION_DENIED', /2 URI SANs/);
  assertRejected(craftCsr({ sans: [sans[0]!, sans[0]!] }), 'PERMISSION_DENIED', /2 URI SANs/);
});

test('an extra DNS SAN is PERMISSION_DENIED', () => {
  assertRejected(craftCsr({ sans: [new GeneralName({ uniformResourceIdentifier: ID }), new GeneralName({ dNSName: 'kubernetes.default.svc' })] }), 'PERMISSION_DENIED', /DNS SAN/);
});

test('an IP SAN is PERMISSION_DENIED', () => {
  assertRejected(craftCsr({ sans: [new GeneralName({ uniformResourceIdentifier: ID }), new GeneralName({ iPAddress: '10.0.0.1' })] }), 'PERMISSION_DENIED', /IP address SAN/);
});

test('an email SAN is PERMISSION_DENIED', () => {
  assertRejected(craftCsr({ sans: [new GeneralName({ uniformResourceIdentifier: ID }), new GeneralName({ rfc822Name: 'root@example.com' })] }), 'PERMISSION_DENIED', /email/);
});

test('a directoryName SAN is PERMISSION_DENIED', () => {
  const dn = new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: '2.5.4.3', value: new AttributeValue({ utf8String: 'x' }) })])]);
  assertRejected(craftCsr({ sans: [new GeneralName({ uniformResourceIdentifier: ID }), new GeneralName({ directoryName: dn })] }), 'PERMISSION_DENIED', /directoryName/);
});

test('a DNS-only CSR is PERMISSION_DENIED', () => {
  assertRejected(craftCsr({ sans: [new GeneralName({ dNSName: 'web.shop.svc' })] }), 'PERMISSION_DENIED', /DNS SAN/);
});

test('requesting basicConstraints CA=true is PERMISSION_DENIED', () => {
  const ca = extension('2.5.29.19', true, new BasicConstraints({ cA: true }));
  assertRejected(craftCsr({ extraExtensions: [ca] }), 'PERMISSION_DENIED', /basicConstraints/);
});

test('requesting keyUsage keyCertSign is PERMISSION_DENIED', () => {
  const ku = extension('2.5.29.15', true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.digitalSignature));
  assertRejected(craftCsr({ extraExtensions: [ku] }), 'PERMISSION_DENIED', /keyUsage/);
});

test('requesting any other extension (even harmless) is PERMISSION_DENIED', () => {
  const unknown = new Extension({ extnID: '1.3.6.1.4.1.99999.1', critical: false, extnValue: new OctetString(new Uint8Array([5, 0])) });
  assertRejected(craftCsr({ extraExtensions: [unknown] }), 'PERMISSION_DENIED', /1\.3\.6\.1\.4\.1\.99999\.1/);
});

// --- INVALID_ARGUMENT: malformed, wrong algorithm, no proof of possession -----------------

test('a CSR asking for no identity at all is INVALID_ARGUMENT', () => {
  assertRejected(craftCsr({ sans: null }), 'INVALID_ARGUMENT', /no SPIFFE ID/);
  assertRejected(craftCsr({ sans: null, attributes: [] }), 'INVALID_ARGUMENT', /no SPIFFE ID/);
});

test('an RSA key CSR (openssl CLI) is INVALID_ARGUMENT naming RSA', () => {
  const der = openssl(['req', '-new', '-newkey', 'rsa:2048', '-subj', '/', '-addext', `subjectAltName=critical,URI:${ID}`]);
  assertRejected(der, 'INVALID_ARGUMENT', /RSA key/);
});

test('a P-384 key is INVALID_ARGUMENT naming the curve', () => {
  const keys = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  assertRejected(craftCsr({ keys }), 'INVALID_ARGUMENT', /secp384r1.*only P-256/);
  const der = openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-subj', '/', '-addext', `subjectAltName=critical,URI:${ID}`]);
  assertRejected(der, 'INVALID_ARGUMENT', /secp384r1/);
});

test('an Ed25519 key is INVALID_ARGUMENT', () => {
  const der = openssl(['req', '-new', '-newkey', 'ed25519', '-subj', '/', '-addext', `subjectAltName=critical,URI:${ID}`]);
  assertRejected(der, 'INVALID_ARGUMENT', /1\.3\.101\.112.*only EC P-256/);
});

test('ecdsa-with-SHA384 is INVALID_ARGUMENT', () => {
  assertRejected(craftCsr({ hash: 'sha384', signatureAlgorithm: '1.2.840.10045.4.3.3' }), 'INVALID_ARGUMENT', /ecdsaWithSha384.*only ecdsa-with-SHA256/);
});

test('ecdsa-with-SHA256 with parameters is INVALID_ARGUMENT', () => {
  const good = craftCsr();
  const parsed = AsnConvert.parse(good, CertificationRequest);
  const withNull = assemble(
    Buffer.from(AsnConvert.serialize(parsed.certificationRequestInfo)),
    new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2', parameters: null }),
    new Uint8Array(parsed.signature),
  );
  assertRejected(withNull, 'INVALID_ARGUMENT', /parameters/);
});

test('a flipped byte in the signature is INVALID_ARGUMENT (signature does not verify)', () => {
  const der = craftCsr();
  const bad = Buffer.from(der);
  bad[bad.length - 1]! ^= 0x01;
  assertRejected(bad, 'INVALID_ARGUMENT', /signature does not verify/);
});

test('a CSR signed by another key is INVALID_ARGUMENT (no proof of possession)', () => {
  const victim = generateWorkloadKeyPair();
  const attacker = generateWorkloadKeyPair();
  const forged = craftCsr({ keys: { privateKey: attacker.privateKey, publicKey: victim.publicKey } });
  assertRejected(forged, 'INVALID_ARGUMENT', /signature does not verify/);
});

test('tampering with the SAN after signing is INVALID_ARGUMENT, checked before the identity', () => {
  const der = craftCsr();
  const at = der.indexOf(Buffer.from('/sa/web'));
  assert.ok(at > 0);
  const tampered = Buffer.from(der);
  tampered.write('/sa/wef', at, 'latin1');
  assertRejected(tampered, 'INVALID_ARGUMENT', /signature does not verify/, 'spiffe://cluster.local/ns/shop/sa/wef');
});

test('a signature over a re-encoding is not accepted: the exact info bytes are verified', () => {
  // Same info, but with a non-DER (explicit FALSE) critical flag: semantically equal, bytes differ.
  const keys = generateWorkloadKeyPair();
  const der = craftCsr({ keys, sanCritical: true });
  const parsed = AsnConvert.parse(der, CertificationRequest);
  const info = Buffer.from(AsnConvert.serialize(parsed.certificationRequestInfo));
  const signature = sign('sha256', Buffer.concat([info, Buffer.from([0])]), keys.privateKey);
  assertRejected(assemble(info, new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }), signature), 'INVALID_ARGUMENT', /signature does not verify/);
});

test('an oversize CSR is INVALID_ARGUMENT, however it is wrapped', () => {
  const sans = [new GeneralName({ uniformResourceIdentifier: ID }), ...Array.from({ length: 200 }, (_, i) => new GeneralName({ dNSName: `host-${i}.example.com` }))];
  const big = craftCsr({ sans });
  assert.ok(big.length > DEFAULT_MAX_CSR_BYTES);
  assertRejected(big, 'INVALID_ARGUMENT', /bytes, more than the 4096 allowed/);
  assertRejected(encodePem('CERTIFICATE REQUEST', big), 'INVALID_ARGUMENT', /more than a 4096-byte CSR needs/);
  assertRejected(Buffer.alloc(1024 * 1024, 0x30), 'INVALID_ARGUMENT', /more than the 4096 allowed/);
  assert.throws(() => parseCsr(craftCsr(), ID, { maxBytes: 100 }), (err: unknown) => err instanceof CsrRejectedError && /more than the 100 allowed/.test(err.message));
});

test('truncated DER is INVALID_ARGUMENT at every length', () => {
  const der = freshCsr();
  for (let length = 1; length < der.length; length++) {
    assertRejected(der.subarray(0, length), 'INVALID_ARGUMENT', /CSR/);
  }
});

test('trailing bytes, indefinite and non-minimal lengths are INVALID_ARGUMENT', () => {
  const der = craftCsr();
  assertRejected(Buffer.concat([der, Buffer.from([0])]), 'INVALID_ARGUMENT', /trailing bytes/);
  const lengthOctets = der[1]! & 0x7f;
  const body = der.subarray(2 + lengthOctets);
  const indefinite = Buffer.concat([Buffer.from([0x30, 0x80]), body, Buffer.from([0, 0])]);
  assertRejected(indefinite, 'INVALID_ARGUMENT', /indefinite length/);
  // The same length with one more (leading zero) length octet.
  const nonMinimal = Buffer.concat([Buffer.from([0x30, 0x80 | (lengthOctets + 1), 0x00]), der.subarray(2, 2 + lengthOctets), body]);
  assertRejected(nonMinimal, 'INVALID_ARGUMENT', /non-minimal length/);
});

test('duplicate SAN extensions are INVALID_ARGUMENT', () => {
  const second = extension('2.5.29.17', false, new SubjectAlternativeName([new GeneralName({ uniformResourceIdentifier: OTHER_ID })]));
  assertRejected(craftCsr({ extraExtensions: [second] }), 'INVALID_ARGUMENT', /subjectAltName.*twice/);
});

test('attributes other than extensionRequest are INVALID_ARGUMENT', () => {
  const exts = new Attribute({ type: '1.2.840.113549.1.9.14', values: [AsnConvert.serialize(new Extensions([extension('2.5.29.17', true, new SubjectAlternativeName([new GeneralName({ uniformResourceIdentifier: ID })]))]))] });
  const password = new Attribute({ type: '1.2.840.113549.1.9.7', values: [AsnConvert.serialize(new AttributeValue({ utf8String: 'secret' }))] });
  assertRejected(craftCsr({ attributes: [exts, password] }), 'INVALID_ARGUMENT', /challengePassword/);
});

test('a non-ASCII URI is INVALID_ARGUMENT', () => {
  const der = craftCsr({ sans: [new GeneralName({ uniformResourceIdentifier: 'spiffe://cluster.local/ns/shop/sa/wéb' })] });
  assertRejected(der, 'INVALID_ARGUMENT', /IA5|not a DER/);
});

test('an off-curve public key is INVALID_ARGUMENT', () => {
  const der = craftCsr();
  const spki = generateWorkloadKeyPair().publicKey.export({ format: 'der', type: 'spki' });
  const point = der.indexOf(spki.subarray(0, 26));
  const at = der.indexOf(Buffer.from('034200', 'hex'), point) + 3;
  const broken = Buffer.from(der);
  broken[at + 64]! ^= 0x01; // last byte of y: almost certainly off the curve
  assertRejected(broken, 'INVALID_ARGUMENT', /not a valid P-256 point/);
});

test('empty input is INVALID_ARGUMENT', () => {
  assertRejected(Buffer.alloc(0), 'INVALID_ARGUMENT', /empty/);
  assertRejected('', 'INVALID_ARGUMENT', /PEM/);
});

test('PEM with garbage, the wrong label or two blocks is INVALID_ARGUMENT', () => {
  const der = freshCsr();
  const pem = encodePem('CERTIFICATE REQUEST', der);
  assertRejected(pem.replace(/\n([A-Za-z0-9+/]{10})/, '\n!!$1'), 'INVALID_ARGUMENT', /not valid base64/);
  assertRejected('-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all\n-----END CERTIFICATE REQUEST-----\n', 'INVALID_ARGUMENT', /not valid base64/);
  assertRejected('-----BEGIN CERTIFICATE REQUEST-----\n' + randomBytes(200).toString('base64') + '\n-----END CERTIFICATE REQUEST-----\n', 'INVALID_ARGUMENT', /not a DER PKCS#10/);
  assertRejected(encodePem('CERTIFICATE', der), 'INVALID_ARGUMENT', /"CERTIFICATE", not CERTIFICATE REQUEST/);
  assertRejected(pem + pem, 'INVALID_ARGUMENT', /found 2 PEM blocks/);
  assertRejected(pem.replace('-----END CERTIFICATE REQUEST-----', '-----END PRIVATE KEY-----'), 'INVALID_ARGUMENT', /PEM/);
  assertRejected('hello', 'INVALID_ARGUMENT', /found 0 PEM blocks/);
});

test('inputs of the wrong type are INVALID_ARGUMENT, not TypeError', () => {
  for (const input of [undefined, null, 42, {}, [1, 2, 3], new ArrayBuffer(8)]) {
    assertRejected(input, 'INVALID_ARGUMENT', /CSR/);
  }
});

test('random garbage never throws anything but CsrRejectedError', () => {
  for (let i = 0; i < 2000; i++) {
    const length = i % 50 === 0 ? 0 : 1 + (randomBytes(2).readUInt16BE() % 600);
    const garbage = randomBytes(length);
    if (i % 3 === 0 && length > 0) garbage[0] = 0x30; // look like a SEQUENCE to get past the first check
    assertRejected(garbage, 'INVALID_ARGUMENT', /./);
  }
});

test('every single-byte mutation of a valid CSR is rejected with CsrRejectedError', () => {
  const der = freshCsr();
  for (let at = 0; at < der.length; at++) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const mutated = Buffer.from(der);
      mutated[at]! ^= mask;
      assert.throws(
        () => parseCsr(mutated, ID),
        (err: unknown) => err instanceof CsrRejectedError && (err.code === 'INVALID_ARGUMENT' || err.code === 'PERMISSION_DENIED'),
        `mutation at ${at} with ${mask}`,
      );
    }
  }
});
