import { readFileSync } from 'node:fs';
import type { SecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

/**
 * How the sidecar proves itself to the control plane and checks the control plane, read
 * again before every (re)connection so that a rotated certificate or token is used.
 */
export interface DiscoveryCredentials {
  /** Roots the control plane's serving certificate must chain to (PEM). */
  trustBundlePem: string;
  /**
   * The workload's current mesh certificate, presented as TLS client certificate; preferred
   * by the control plane because it needs no TokenReview.
   * Either as PEM, or as the SecureContext the proxy already built for it (TlsMaterial),
   * which must also hold the trust bundle as its CA list.
   */
  clientCertificate?: { certificateChainPem: string; privateKeyPem: string } | { secureContext: SecureContext } | undefined;
  /** Projected ServiceAccount token, audience "reseal"; sent as `authorization: Bearer`. */
  bearerToken?: string | undefined;
}

export type CredentialsSource = () => DiscoveryCredentials | Promise<DiscoveryCredentials>;

export function channelCredentialsOf(credentials: DiscoveryCredentials): grpc.ChannelCredentials {
  const client = credentials.clientCertificate;
  if (client && 'secureContext' in client) return grpc.credentials.createFromSecureContext(client.secureContext);
  return grpc.credentials.createSsl(
    Buffer.from(credentials.trustBundlePem),
    client ? Buffer.from(client.privateKeyPem) : null,
    client ? Buffer.from(client.certificateChainPem) : null,
  );
}

/** The kubelet rotates projected tokens in place: read the file each time, never cache it. */
export function readTokenFile(path: string): string {
  const token = readFileSync(path, 'utf8').trim();
  if (!token) throw new Error(`token file ${path} is empty`);
  return token;
}
