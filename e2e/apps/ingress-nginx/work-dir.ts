// The files nginx reads, all under one writable directory: nginx.conf, the certificates
// of the TLS Secrets (named by content hash, keys 0600), the default self-signed certificate.
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CertificatePem } from './model.js';
import { certificateFiles, defaultCertificateFiles } from './render-config.js';

const run = promisify(execFile);

/**
 * Creates the work dir (0755: nginx's workers, as the `user` of the config, use the temp
 * paths in it) with a private `certs/`, and the default certificate if it has none yet.
 */
export async function prepareWorkDir(workDir: string): Promise<void> {
  await mkdir(workDir, { recursive: true });
  await chmod(workDir, 0o755);
  await mkdir(join(workDir, 'certs'), { recursive: true, mode: 0o700 });
  await chmod(join(workDir, 'certs'), 0o700);
  const files = defaultCertificateFiles(workDir);
  if (!(await exists(files.cert)) || !(await exists(files.key))) {
    await selfSignedCertificate(files, 'Kubernetes Ingress Controller Fake Certificate', ['ingress.local']);
  }
}

/** A self-signed ECDSA P-256 certificate with the given DNS names, made by the openssl CLI. */
export async function selfSignedCertificate(
  files: { cert: string; key: string },
  commonName: string,
  dnsNames: string[],
  days = 3650,
): Promise<void> {
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', String(days),
    '-subj', `/O=Reseal e2e/CN=${commonName}`,
    '-addext', `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}`,
    '-keyout', files.key, '-out', files.cert,
  ], { timeout: 15_000 });
  await chmod(files.key, 0o600);
}

/** Writes the certificates that are missing (names are content hashes, so existing ones are current). */
export async function writeCertificates(workDir: string, certificates: ReadonlyMap<string, CertificatePem>): Promise<void> {
  for (const [id, pem] of certificates) {
    const files = certificateFiles(workDir, id);
    if ((await exists(files.cert)) && (await exists(files.key))) continue;
    await atomicWrite(files.key, pem.keyPem, 0o600);
    await atomicWrite(files.cert, pem.certPem, 0o644);
  }
}

/** Removes certificate files of ids not in `keep`, once a config without them is live. */
export async function removeCertificatesExcept(workDir: string, keep: ReadonlySet<string>): Promise<void> {
  const dir = join(workDir, 'certs');
  for (const name of await readdir(dir)) {
    const id = name.replace(/\.(crt|key)$/, '');
    if (!keep.has(id)) await rm(join(dir, name), { force: true });
  }
}

export async function atomicWrite(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
