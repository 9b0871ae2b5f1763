import type { KeyObject } from 'node:crypto';
import {
  EKU_SERVER,
  EKU_SERVER_AND_CLIENT,
  LEAF_BASIC_CONSTRAINTS,
  LEAF_KEY_USAGE,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
} from './certificate-extensions.js';
import type { Issuer } from './issuer.js';
import { keyIdentifier } from './key-identifier.js';
import { checkInTrustDomain, checkTtl, issueLeaf, leafPublicKeySpki, leafValidity } from './leaf-issue.js';
import type { IssuedCertificate, TtlRange } from './leaf-issue.js';

export interface ServingCertificateRequest {
  readonly publicKey: KeyObject;
  /** e.g. serviceDnsNames('reseal-control-plane', 'reseal-system'); at least one. */
  readonly dnsNames: readonly string[];
  /** Also carry this SPIFFE ID, so mesh peers can authenticate the control plane by identity. */
  readonly spiffeId?: string;
  /** Add clientAuth to the EKU, for a server that also dials peers with this certificate. Default true. */
  readonly clientAuth?: boolean;
  /** Default 30 days; 60 s..365 days, and never past the issuer. */
  readonly ttlSeconds?: number;
  readonly now?: Date;
}

export const SERVING_TTL: TtlRange = { min: 60, max: 365 * 86_400, default: 30 * 86_400 };

// A lower-case host name: labels of letters, digits and inner hyphens. No wildcards: the
// control plane serves fixed Service names.
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The names a Service is reached by from inside the cluster, most specific last. */
export function serviceDnsNames(service: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`];
}

/**
 * A TLS server certificate for the control plane's own endpoints (identity gRPC, admission
 * webhook): DNS SANs plus optionally its SPIFFE ID, otherwise the same leaf profile as an
 * SVID (empty subject, critical SAN, digitalSignature, cA=false).
 */
export function issueServingCertificate(issuer: Issuer, request: ServingCertificateRequest): IssuedCertificate {
  const ttl = checkTtl(request.ttlSeconds, SERVING_TTL, 'serving certificate');
  if (request.dnsNames.length === 0) throw new TypeError('a serving certificate needs at least one DNS name');
  for (const name of request.dnsNames) {
    if (!DNS_NAME.test(name)) throw new TypeError(`not a lower-case DNS name: ${JSON.stringify(name)}`);
  }
  if (request.spiffeId !== undefined) checkInTrustDomain(issuer, request.spiffeId);
  const spki = leafPublicKeySpki(request.publicKey);
  const { notBefore, notAfter } = leafValidity(issuer, request.now ?? new Date(), ttl);
  return issueLeaf(issuer, {
    spki,
    notBefore,
    notAfter,
    extensions: [
      LEAF_BASIC_CONSTRAINTS,
      LEAF_KEY_USAGE,
      request.clientAuth === false ? EKU_SERVER : EKU_SERVER_AND_CLIENT,
      subjectKeyIdentifierExtension(keyIdentifier(spki)),
      issuer.authorityKeyIdentifier,
      subjectAltNameExtension({ dnsNames: request.dnsNames, uris: request.spiffeId === undefined ? [] : [request.spiffeId] }, true),
    ],
  });
}
