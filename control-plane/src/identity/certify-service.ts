import type { KeyObject, X509Certificate } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { CsrRejectedError, parseCsr, workloadSpiffeId } from '@reseal/core';
import { AuthenticationError, type AuthenticatedCaller, type TokenAuthenticator } from './caller.js';
import { authenticateByCertificate } from './certificate-authenticator.js';
import { CertifyError } from './certify-errors.js';
import type { RateLimiter } from './rate-limiter.js';

/** What the service needs from the CA; the CA itself lives in ../ca. */
export interface SvidIssuer {
  issueWorkloadSvid(request: { publicKey: KeyObject; spiffeId: string; ttlSeconds: number }): {
    chainPem: string;
    notBefore: Date;
    notAfter: Date;
    serial: string;
  };
  readonly trustBundlePem: string;
  readonly trustRoots: readonly X509Certificate[];
  readonly issuerChain: readonly X509Certificate[];
}

export interface CertifyRequestInput {
  csr: Buffer;
  ttlSeconds: number;
  /** From `authorization: Bearer`; absent when the caller relies on its certificate. */
  bearerToken?: string | undefined;
  /** DER chain the caller presented in the TLS handshake, leaf first. */
  peerCertificates: readonly Buffer[];
}

export interface CertifyResult {
  caller: AuthenticatedCaller;
  spiffeId: string;
  chainPem: string;
  trustBundlePem: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
}

export interface CertifyPolicy {
  trustDomain: string;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

/** What happened to one request, for metrics; reasons are a small fixed set. */
export type CertifyOutcome =
  | { result: 'issued'; auth: AuthenticatedCaller['method']; seconds: number }
  | { result: 'refused'; reason: string; seconds: number };

export const MIN_TTL_SECONDS = 60;
export const MAX_TTL_SECONDS = 24 * 3600;

/**
 * Issuance: authenticate the caller, derive its SPIFFE ID, check the CSR asks for exactly
 * that, and sign. Transport (gRPC) and Kubernetes stay outside, behind small interfaces.
 */
export class CertifyService {
  constructor(
    private readonly policy: CertifyPolicy,
    private readonly tokens: TokenAuthenticator,
    private readonly issuer: () => SvidIssuer,
    private readonly limiter: RateLimiter,
    private readonly observe: (outcome: CertifyOutcome) => void = () => undefined,
  ) {
    if (policy.defaultTtlSeconds < MIN_TTL_SECONDS || policy.maxTtlSeconds > MAX_TTL_SECONDS || policy.defaultTtlSeconds > policy.maxTtlSeconds) {
      throw new RangeError(`certificate TTLs must satisfy ${MIN_TTL_SECONDS} <= default <= max <= ${MAX_TTL_SECONDS}`);
    }
  }

  private inFlightCount = 0;

  /** Certify calls being processed now (the CSR queue depth: authentication, signing). */
  get inFlight(): number {
    return this.inFlightCount;
  }

  async certify(request: CertifyRequestInput): Promise<CertifyResult> {
    const started = performance.now();
    this.inFlightCount++;
    try {
      const result = await this.certifyUnobserved(request);
      this.observe({ result: 'issued', auth: result.caller.method, seconds: (performance.now() - started) / 1000 });
      return result;
    } catch (error) {
      this.observe({ result: 'refused', reason: error instanceof CertifyError ? error.reason : 'internal', seconds: (performance.now() - started) / 1000 });
      throw error;
    } finally {
      this.inFlightCount--;
    }
  }

  private async certifyUnobserved(request: CertifyRequestInput): Promise<CertifyResult> {
    const issuer = this.issuer();
    const caller = await this.authenticate(request, issuer);
    const spiffeId = workloadSpiffeId(this.policy.trustDomain, caller.namespace, caller.serviceAccount);
    if (!this.limiter.tryTake(spiffeId)) {
      throw new CertifyError(status.RESOURCE_EXHAUSTED, `too many certificate requests for ${spiffeId}; retry later`, 'rate_limited');
    }
    let publicKey: KeyObject;
    try {
      publicKey = parseCsr(request.csr, spiffeId).publicKey;
    } catch (error) {
      if (error instanceof CsrRejectedError) {
        const code = error.code === 'PERMISSION_DENIED' ? status.PERMISSION_DENIED : status.INVALID_ARGUMENT;
        throw new CertifyError(code, `CSR refused: ${error.message}`, error.code === 'PERMISSION_DENIED' ? 'csr_identity' : 'csr_invalid');
      }
      throw error;
    }
    const ttlSeconds = this.chooseTtl(request.ttlSeconds);
    const issued = issuer.issueWorkloadSvid({ publicKey, spiffeId, ttlSeconds });
    return { caller, spiffeId, trustBundlePem: issuer.trustBundlePem, ...issued };
  }

  private async authenticate(request: CertifyRequestInput, issuer: SvidIssuer): Promise<AuthenticatedCaller> {
    const reasons: string[] = [];
    let tokenCheckUnavailable = false;
    if (request.bearerToken) {
      try {
        return await this.tokens.authenticate(request.bearerToken);
      } catch (error) {
        tokenCheckUnavailable = !(error instanceof AuthenticationError);
        reasons.push(tokenCheckUnavailable ? `cannot check the token now: ${(error as Error).message}` : (error as Error).message);
      }
    }
    // A refused token, or an API server that cannot review it, does not strand a workload
    // that still holds a valid mesh certificate.
    if (request.peerCertificates.length > 0) {
      try {
        return authenticateByCertificate(request.peerCertificates, issuer.trustRoots, issuer.issuerChain, this.policy.trustDomain);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) throw error;
        reasons.push(error.message);
      }
    }
    if (reasons.length === 0) reasons.push('no bearer token and no client certificate');
    if (tokenCheckUnavailable) throw new CertifyError(status.UNAVAILABLE, reasons.join('; '), 'token_review_unavailable');
    throw new CertifyError(status.UNAUTHENTICATED, `caller not authenticated: ${reasons.join('; ')}`, 'unauthenticated');
  }

  private chooseTtl(requested: number): number {
    if (!requested) return this.policy.defaultTtlSeconds;
    return Math.max(MIN_TTL_SECONDS, Math.min(requested, this.policy.maxTtlSeconds));
  }
}
