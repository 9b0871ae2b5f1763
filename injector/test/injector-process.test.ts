// The injector as main.ts wires it: configuration from the environment, webhook and admin
// ports, the trust-root hash following the mounted bundle; and the real bin as a process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { InjectorConfigError, parseInjectorConfig } from '../src/config.js';
import { startInjector } from '../src/injector.js';
import { applyJsonPatch, type JsonPatchOperation } from '../src/patch/index.js';
import { httpsRequest, podReview, TestServingCertificates } from './support/webhook-harness.js';

function httpGet(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    })
      .on('error', reject)
      .end();
  });
}

describe('configuration', () => {
  test('defaults', () => {
    const config = parseInjectorConfig({});
    assert.equal(config.webhookPort, 9443);
    assert.equal(config.adminPort, 15014);
    assert.deepEqual(config.tls, { certFile: '/var/run/reseal/webhook-tls/tls.crt', keyFile: '/var/run/reseal/webhook-tls/tls.key' });
    assert.equal(config.trustBundleFile, '/var/run/reseal/webhook-tls/ca.crt');
    assert.equal(config.mesh.images.proxy, `reseal/sidecar:${config.mesh.version}`);
    assert.equal(config.mesh.images.init, config.mesh.images.proxy);
    assert.equal(config.mesh.meshNamespace, 'reseal-system');
    assert.equal(config.mesh.nativeSidecars, true);
    assert.equal(config.maxBodyBytes, 3 * 1024 * 1024);
  });

  test('overrides', () => {
    const config = parseInjectorConfig({
      RESEAL_PROXY_IMAGE: 'r/p:1',
      RESEAL_NATIVE_SIDECARS: 'false',
      RESEAL_TRUST_ROOT_HASH: 'f'.repeat(64),
      RESEAL_PROXY_MEMORY_LIMIT: '512Mi',
      RESEAL_TLS_CERT_FILE: '/tls/tls.crt',
    });
    assert.equal(config.mesh.images.init, 'r/p:1');
    assert.equal(config.mesh.nativeSidecars, false);
    assert.equal(config.trustBundleFile, undefined, 'a fixed hash needs no bundle file');
    assert.equal(config.mesh.defaults.resources.memoryLimit, '512Mi');
    assert.equal(config.tls.keyFile, '/tls/tls.key');
  });

  for (const [name, value, message] of [
    ['RESEAL_WEBHOOK_PORT', 'https', /RESEAL_WEBHOOK_PORT/],
    ['RESEAL_NATIVE_SIDECARS', 'yes', /RESEAL_NATIVE_SIDECARS/],
    ['RESEAL_PROXY_CPU_LIMIT', 'lots', /proxy defaults/],
    ['RESEAL_TRUST_ROOT_HASH', 'abc', /trustRootHash/],
    ['RESEAL_TRUST_DOMAIN', 'Not A Domain', /RESEAL_TRUST_DOMAIN/],
    ['RESEAL_PROXY_LOG_LEVEL', 'loud', /RESEAL_PROXY_LOG_LEVEL/],
    ['RESEAL_IMAGE_PULL_POLICY', 'Sometimes', /RESEAL_IMAGE_PULL_POLICY/],
  ] as const) {
    test(`invalid ${name}`, () => assert.throws(() => parseInjectorConfig({ [name]: value }), (e: unknown) => e instanceof InjectorConfigError && message.test(e.message)));
  }
});

describe('startInjector', () => {
  test('admission, /ready, /metrics, and the trust-root hash following the bundle file', async () => {
    const certificates = new TestServingCertificates();
    const bundleFile = join(certificates.dir, 'ca.crt');
    writeFileSync(bundleFile, certificates.caBundlePem);
    const config = parseInjectorConfig({
      RESEAL_LISTEN_HOST: '127.0.0.1',
      RESEAL_WEBHOOK_PORT: '0',
      RESEAL_ADMIN_PORT: '0',
      RESEAL_TLS_CERT_FILE: certificates.certFile,
      RESEAL_RELOAD_INTERVAL_SECONDS: '1',
    });
    assert.equal(config.trustBundleFile, bundleFile);
    const injector = await startInjector(config, { logger: pino({ level: 'silent' }) });
    try {
      const hashOf = async (): Promise<unknown> => {
        const answer = await httpsRequest(`https://localhost:${injector.webhook.port}/mutate`, {
          body: JSON.stringify(podReview({ metadata: { name: 'p' }, spec: { containers: [{ name: 'a' }] } })),
          ca: certificates.caBundlePem,
        });
        const patch = JSON.parse(Buffer.from((answer.json().response as { patch: string }).patch, 'base64').toString()) as JsonPatchOperation[];
        const pod = applyJsonPatch<{ metadata: { annotations: Record<string, string> } }>({ metadata: { name: 'p' }, spec: { containers: [{ name: 'a' }] } } as never, patch);
        return pod.metadata.annotations['reseal.dev/trust-root-hash'];
      };
      const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
      assert.equal(await hashOf(), sha(certificates.caBundlePem));

      const rotated = `${certificates.caBundlePem}# another root\n`;
      writeFileSync(bundleFile, rotated);
      const deadline = Date.now() + 10_000;
      while ((await hashOf()) !== sha(rotated) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await hashOf(), sha(rotated));

      assert.equal((await httpGet(injector.admin.port, '/ready')).status, 200);
      assert.equal((await httpGet(injector.admin.port, '/live')).status, 200);
      const metrics = await httpGet(injector.admin.port, '/metrics');
      assert.match(metrics.text, /reseal_injector_admissions_total\{result="injected"\} [1-9]/);
    } finally {
      await injector.stop();
      certificates.remove();
    }
  });

  test('the bin starts from the environment, logs JSON, and stops on SIGTERM', async () => {
    const certificates = new TestServingCertificates();
    const bin = fileURLToPath(new URL('../bin/reseal-injector.js', import.meta.url));
    const child = spawn(process.execPath, [bin], {
      env: { PATH: process.env.PATH, RESEAL_LISTEN_HOST: '127.0.0.1', RESEAL_WEBHOOK_PORT: '0', RESEAL_ADMIN_PORT: '0', RESEAL_TLS_CERT_FILE: certificates.certFile },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
        lines.on('line', (line) => {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.event === 'started') resolve(entry);
        });
      });
      assert.equal(started.component, 'reseal-injector');
      const answer = await httpsRequest(`https://localhost:${String(started.webhookPort)}/mutate`, { body: '{}', ca: certificates.caBundlePem });
      assert.equal(answer.status, 200);
      const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exit, 0);
    } finally {
      child.kill('SIGKILL');
      certificates.remove();
    }
  });

  test('a bad environment exits 2 with the variable named', async () => {
    const bin = fileURLToPath(new URL('../bin/reseal-injector.js', import.meta.url));
    const child = spawn(process.execPath, [bin], { env: { PATH: process.env.PATH, RESEAL_WEBHOOK_PORT: 'x' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /RESEAL_WEBHOOK_PORT/);
  });
});
