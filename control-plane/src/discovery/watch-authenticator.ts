import type { X509Certificate } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { AuthenticationError, type AuthenticatedCaller, type TokenAuthenticator } from '../identity/caller.js';
import { authenticateByCertificate } from '../identity/certificate-authenticator.js';
import { DiscoveryError } from './discovery-errors.js';

export interface MeshTrust {
  readonly trustRoots: readonly X509Certificate[];
  readonly issuerChain: readonly X509Certificate[];
}

/**
 * Who is watching: the mesh certificate on the TLS connection, else the bearer token. The
 * certificate goes first here (unlike Certify, where the token bootstraps): it costs no
 * TokenReview, which matters when every sidecar reconnects after a control-plane restart.
 */
export class WatchAuthenticator {
  constructor(
    private readonly tokens: TokenAuthenticator,
    private readonly trust: () => MeshTrust,
    private readonly trustDomain: string,
  ) {}

  async authenticate(input: { bearerToken?: string | undefined; peerCertificates: readonly Buffer[] }): Promise<AuthenticatedCaller> {
    const reasons: string[] = [];
    if (input.peerCertificates.length > 0) {
      try {
        const trust = this.trust();
        return authenticateByCertificate(input.peerCertificates, trust.trustRoots, trust.issuerChain, this.trustDomain);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) throw error;
        reasons.push(error.message);
      }
    }
    if (input.bearerToken) {
      try {
        return await this.tokens.authenticate(input.bearerToken);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) {
          throw new DiscoveryError(status.UNAVAILABLE, `cannot check the token now: ${(error as Error).message}`, 'token_review_unavailable');
        }
        reasons.push(error.message);
      }
    }
    if (reasons.length === 0) reasons.push('no bearer token and no client certificate');
    throw new DiscoveryError(status.UNAUTHENTICATED, `caller not authenticated: ${reasons.join('; ')}`, 'unauthenticated');
  }
}
