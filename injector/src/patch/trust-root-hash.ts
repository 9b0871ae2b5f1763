import { createHash } from 'node:crypto';

/** The value of reseal.dev/trust-root-hash: sha256 (hex) of the trust bundle PEM exactly as published. */
export function trustRootHash(bundlePem: string | Uint8Array): string {
  return createHash('sha256').update(bundlePem).digest('hex');
}
