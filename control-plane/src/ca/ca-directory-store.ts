import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority } from './certificate-authority.js';

/**
 * Standalone mode keeps the CA in a directory with the same three files a kubernetes.io/tls
 * Secret holds, so a demo's CA survives a restart and can be moved into a cluster as is.
 */
export function loadOrCreateCaInDirectory(dir: string, trustDomain: string): CertificateAuthority {
  const paths = { crt: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') };
  if (existsSync(paths.crt) || existsSync(paths.key) || existsSync(paths.ca)) {
    return CertificateAuthority.fromPem({
      issuerCertPem: readFileSync(paths.crt, 'utf8'),
      issuerKeyPem: readFileSync(paths.key, 'utf8'),
      caBundlePem: readFileSync(paths.ca, 'utf8'),
      trustDomain,
    });
  }
  const ca = CertificateAuthority.generate({ trustDomain });
  const pem = ca.toPem();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(paths.crt, pem['tls.crt']);
  writeFileSync(paths.key, pem['tls.key'], { mode: 0o600 });
  writeFileSync(paths.ca, pem['ca.crt']);
  return ca;
}
