// A kubernetes.io/tls Secret as a certificate nginx can load: parsed and checked here so
// that a broken Secret costs its host the default certificate, not every host a reload.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { CertificatePem } from './model.js';

export type TlsSecretResult = { ok: true; id: string; pem: CertificatePem } | { ok: false; reason: string };

export function readTlsSecret(secret: V1Secret): TlsSecretResult {
  const certB64 = secret.data?.['tls.crt'];
  const keyB64 = secret.data?.['tls.key'];
  if (!certB64 || !keyB64) return { ok: false, reason: 'secret has no tls.crt or tls.key' };
  const certPem = Buffer.from(certB64, 'base64').toString('utf8');
  const keyPem = Buffer.from(keyB64, 'base64').toString('utf8');
  try {
    const cert = new X509Certificate(certPem);
    const key = createPrivateKey(keyPem);
    if (!cert.checkPrivateKey(key)) return { ok: false, reason: 'tls.key does not match tls.crt' };
  } catch (error) {
    // the message of a parse error names the problem, never the key's bytes
    return { ok: false, reason: `unreadable certificate or key: ${(error as Error).message}` };
  }
  const id = createHash('sha256').update(certPem).update('\0').update(keyPem).digest('hex').slice(0, 32);
  return { ok: true, id, pem: { certPem, keyPem } };
}
