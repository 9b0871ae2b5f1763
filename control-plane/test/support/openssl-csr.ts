import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A CSR made by the openssl CLI, for key types and SANs our own builder refuses to make. */
export function opensslCsr(options: { key: 'rsa:2048' | 'ec-p384' | 'ec-p256'; san: string }): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'reseal-csr-'));
  try {
    const keyArgs =
      options.key === 'rsa:2048'
        ? ['-newkey', 'rsa:2048']
        : ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${options.key === 'ec-p384' ? 'P-384' : 'P-256'}`];
    execFileSync('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', join(dir, 'key.pem'), '-subj', '/', '-addext', `subjectAltName=${options.san}`, '-outform', 'DER', '-out', join(dir, 'csr.der')], {
      stdio: 'pipe',
    });
    return readFileSync(join(dir, 'csr.der'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
