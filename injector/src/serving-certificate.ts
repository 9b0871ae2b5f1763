import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** The webhook's TLS key pair, checked to belong together before a server ever uses it. */
export interface ServingCertificate {
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  readonly notAfter: Date;
  readonly subjectAltName: string | undefined;
}

export class ServingCertificateError extends Error {
  override readonly name = 'ServingCertificateError';
}

export function parseServingCertificate(certPem: Buffer, keyPem: Buffer): ServingCertificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (error) {
    throw new ServingCertificateError(`tls.crt is not a PEM certificate: ${(error as Error).message}`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new ServingCertificateError(`tls.key is not a PEM private key: ${(error as Error).message}`);
  }
  // During a rotation the two files are replaced one after the other; a mismatched pair
  // would fail every handshake, so it is refused and the previous pair kept.
  if (!certificate.checkPrivateKey(key)) throw new ServingCertificateError('tls.key does not match tls.crt');
  return { certPem, keyPem, notAfter: new Date(certificate.validTo), subjectAltName: certificate.subjectAltName };
}

export async function loadServingCertificate(certFile: string, keyFile: string): Promise<ServingCertificate> {
  const [certPem, keyPem] = await Promise.all([readFile(certFile), readFile(keyFile)]).catch((error: unknown) => {
    throw new ServingCertificateError(`cannot read the serving certificate: ${(error as Error).message}`);
  });
  return parseServingCertificate(certPem, keyPem);
}
