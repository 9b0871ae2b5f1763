import type { SecureContext } from 'node:tls';

/**
 * The TLS material of this workload at one moment: built once per certificate (and per
 * trust-bundle change) and shared by every connection, because creating a SecureContext per
 * connection costs more than the handshake itself.
 */
export interface TlsMaterial {
  readonly spiffeId: string;
  /** Holds the key, the certificate chain and the trust bundle as CA list. */
  readonly secureContext: SecureContext;
  readonly certificateChainPem: string;
  readonly trustBundlePem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: string;
}

export interface TlsIdentitySource {
  /** The newest material, or undefined before the first certificate. */
  current(): TlsMaterial | undefined;
  /** Called after every rotation or trust-bundle change; open connections keep their material. */
  onChange(listener: (material: TlsMaterial) => void): () => void;
}

export const RESEAL_ALPN = 'reseal/1';
