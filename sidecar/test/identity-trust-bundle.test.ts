// The mounted trust bundle: parsing, and hot reload through a kubelet-style `..data` symlink
// swap, with garbage and a missing directory along the way.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { CertificateAuthority } from '../../control-plane/src/ca/certificate-authority.js';
import { generateWorkloadKeyPair } from '@reseal/core';
import { TrustBundleError, parseTrustBundle, type TrustBundle } from '../src/identity/trust-bundle.js';
import { TrustBundleWatcher } from '../src/identity/trust-bundle-watcher.js';

const logger = pino({ level: 'silent' });
let dir: string;
let rootA: string;
let rootB: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'reseal-trust-bundle-test-'));
  rootA = CertificateAuthority.generate({ trustDomain: 'cluster.local' }).trustBundlePem;
  rootB = CertificateAuthority.generate({ trustDomain: 'cluster.local' }).trustBundlePem;
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Lays out a ConfigMap volume the way kubelet's atomic writer does, and swaps it in place. */
class ConfigMapVolume {
  private generation = 0;
  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
  }
  get path(): string {
    return join(this.root, 'ca.crt');
  }
  publish(content: string): void {
    const previous = this.generation === 0 ? undefined : join(this.root, `..gen_${this.generation}`);
    this.generation++;
    const name = `..gen_${this.generation}`;
    mkdirSync(join(this.root, name));
    writeFileSync(join(this.root, name, 'ca.crt'), content);
    symlinkSync(name, join(this.root, '..data_tmp'));
    renameSync(join(this.root, '..data_tmp'), join(this.root, '..data'));
    if (this.generation === 1) symlinkSync('..data/ca.crt', this.path);
    if (previous) rmSync(previous, { recursive: true, force: true });
  }
}

function nextChange(watcher: TrustBundleWatcher, timeoutMs = 5000): Promise<TrustBundle> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no trust bundle change within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = watcher.onChange((bundle) => {
      clearTimeout(timer);
      off();
      resolve(bundle);
    });
  });
}

test('parseTrustBundle: one or several roots, canonical PEM', () => {
  const one = parseTrustBundle(rootA);
  assert.equal(one.certificates.length, 1);
  const two = parseTrustBundle(`# comment before\n${rootA}\n\n${rootB}trailing text\n`);
  assert.equal(two.certificates.length, 2);
  assert.equal(two.pem, parseTrustBundle(rootA + rootB).pem, 'comments and whitespace do not make a different bundle');
  assert.ok(two.certificates.every((c) => c.ca));
});

test('parseTrustBundle refuses garbage, empty input, keys and leaf certificates', () => {
  assert.throws(() => parseTrustBundle(''), TrustBundleError);
  assert.throws(() => parseTrustBundle('hello'), TrustBundleError);
  assert.throws(() => parseTrustBundle('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n'), TrustBundleError);
  assert.throws(() => parseTrustBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), /cannot be parsed/);
  const key = generateWorkloadKeyPair().privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.throws(() => parseTrustBundle(rootA + key), /PRIVATE KEY/);
  const ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const leaf = ca.issueWorkloadSvid({ publicKey: generateWorkloadKeyPair().publicKey, spiffeId: 'spiffe://cluster.local/ns/a/sa/b', ttlSeconds: 600 });
  assert.throws(() => parseTrustBundle(leaf.certPem), /not a CA certificate/);
});

test('a kubelet-style ..data swap is seen through the directory watch, without waiting for the poll', async () => {
  const volume = new ConfigMapVolume(join(dir, 'watch'));
  volume.publish(rootA);
  // A poll far beyond the test's waits: only the directory watch can deliver the change.
  const watcher = new TrustBundleWatcher({ path: volume.path, logger, pollIntervalMs: 600_000, debounceMs: 20 });
  try {
    const initial = await watcher.start();
    assert.equal(initial?.certificates.length, 1);
    const changed = nextChange(watcher);
    volume.publish(rootA + rootB);
    const bundle = await changed;
    assert.equal(bundle.certificates.length, 2);
    assert.equal(watcher.current(), bundle);

    // Back to a single (new) root: the old one is dropped.
    const again = nextChange(watcher);
    volume.publish(rootB);
    assert.equal((await again).pem, parseTrustBundle(rootB).pem);
  } finally {
    watcher.stop();
  }
});

test('garbage, an empty file and a vanished file keep the previous bundle; a good one after them is taken', async () => {
  const volume = new ConfigMapVolume(join(dir, 'garbage'));
  volume.publish(rootA);
  const watcher = new TrustBundleWatcher({ path: volume.path, logger, pollIntervalMs: 600_000, debounceMs: 20 });
  let changes = 0;
  watcher.onChange(() => changes++);
  try {
    const initial = await watcher.start();
    assert.ok(initial);
    for (const bad of ['not a certificate at all', '', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n']) {
      volume.publish(bad);
      assert.equal(await watcher.reload(), false);
      assert.equal(watcher.current(), initial, `kept after ${JSON.stringify(bad.slice(0, 20))}`);
    }
    rmSync(volume.path);
    assert.equal(await watcher.reload(), false);
    assert.equal(watcher.current(), initial);
    symlinkSync('..data/ca.crt', volume.path);
    const changed = nextChange(watcher);
    volume.publish(rootB);
    assert.equal((await changed).pem, parseTrustBundle(rootB).pem);
    // Same content rewritten: no change reported.
    volume.publish(`${rootB}\n`);
    assert.equal(await watcher.reload(), false);
    assert.equal(changes, 2, "the first load and rootB, nothing for garbage or rewrites");
  } finally {
    watcher.stop();
  }
});

test('a bundle directory that does not exist yet is found by the poll once it appears', async () => {
  const root = join(dir, 'late');
  const watcher = new TrustBundleWatcher({ path: join(root, 'ca.crt'), logger, pollIntervalMs: 50, debounceMs: 20 });
  try {
    assert.equal(await watcher.start(), undefined);
    const changed = nextChange(watcher);
    new ConfigMapVolume(root).publish(rootA + rootB);
    assert.equal((await changed).certificates.length, 2);
  } finally {
    watcher.stop();
  }
});
