import { createSecureContext } from 'node:tls';
import type { SecureContext, SecureContextOptions } from 'node:tls';

/**
 * The TLS parameters of the mesh hop, shared by both ends so that they always agree:
 * TLS 1.3 only; AES-128-GCM first (the cheapest AEAD with AES-NI and still 128-bit secure),
 * then the other two TLS 1.3 suites; X25519 key exchange (the cheapest ECDHE), P-256 as the
 * fallback. Whoever builds a TlsMaterial's SecureContext spreads these in, because options
 * such as `ciphers` or `minVersion` given to tls.connect are ignored once a prebuilt
 * `secureContext` is passed.
 */
export const MESH_TLS_CONTEXT_OPTIONS = Object.freeze({
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
  ecdhCurve: 'X25519:P-256',
  // Lifetime of the session tickets this end issues as a server (seconds). Tickets are
  // sealed with keys private to one SecureContext, so a rotation invalidates them anyway.
  sessionTimeout: 300,
  // OpenSSL refuses to resume a session on a server that verifies client certificates and
  // has no session id context: the handshake fails instead of falling back to a full one.
  sessionIdContext: 'reseal',
} satisfies SecureContextOptions);

export interface MeshTlsKeyMaterial {
  /** PEM of the workload's private key (PKCS#8 or SEC1); stays in memory. */
  readonly keyPem: string | Buffer;
  /** The leaf followed by the issuer chain, PEM. */
  readonly certificateChainPem: string;
  /** Every trust anchor, PEM: peers are verified against these only. */
  readonly trustBundlePem: string;
}

/**
 * One SecureContext per certificate (and per trust-bundle change): every connection of
 * both directions shares it, since building a context costs more than a handshake.
 */
export function createMeshSecureContext(material: MeshTlsKeyMaterial): SecureContext {
  return createSecureContext({
    ...MESH_TLS_CONTEXT_OPTIONS,
    key: material.keyPem,
    cert: material.certificateChainPem,
    ca: material.trustBundlePem,
  });
}

const prepared = new WeakSet<SecureContext>();

/**
 * Makes a context built elsewhere safe for the inbound side's session resumption: sets the
 * session id context when the builder did not (idempotent, once per context). Without it a
 * client offering a ticket gets a failed handshake rather than a full one.
 */
export function ensureSessionIdContext(context: SecureContext): void {
  if (prepared.has(context)) return;
  prepared.add(context);
  const native = (context as unknown as { context?: { setSessionIdContext?: (id: string) => void } }).context;
  native?.setSessionIdContext?.(MESH_TLS_CONTEXT_OPTIONS.sessionIdContext);
}
