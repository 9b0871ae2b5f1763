import type { KeyObject } from 'node:crypto';
import {
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

export interface WorkloadSvidRequest {
  /** The workload's key, from its verified CSR (parseCsr). */
  readonly publicKey: KeyObject;
  /** The caller's authenticated identity; never taken from the CSR alone. */
  readonly spiffeId: string;
  /** Default 3600; 60..86400. */
  readonly ttlSeconds?: number;
  readonly now?: Date;
}

export const SVID_TTL: TtlRange = { min: 60, max: 86_400, default: 3_600 };

/**
 * An X.509-SVID (SPIFFE X509-SVID §4–5, RFC 5280): v3, random serial, empty subject, the
 * SPIFFE ID as the only URI SAN (critical, since the subject is empty), cA=false and
 * digitalSignature only (both critical), serverAuth+clientAuth, SKI and AKI.
 */
export function issueWorkloadSvid(issuer: Issuer, request: WorkloadSvidRequest): IssuedCertificate {
  const ttl = checkTtl(request.ttlSeconds, SVID_TTL, 'X.509-SVID');
  checkInTrustDomain(issuer, request.spiffeId);
  const spki = leafPublicKeySpki(request.publicKey);
  const { notBefore, notAfter } = leafValidity(issuer, request.now ?? new Date(), ttl);
  return issueLeaf(issuer, {
    spki,
    notBefore,
    notAfter,
    extensions: [
      LEAF_BASIC_CONSTRAINTS,
      LEAF_KEY_USAGE,
      EKU_SERVER_AND_CLIENT,
      subjectKeyIdentifierExtension(keyIdentifier(spki)),
      issuer.authorityKeyIdentifier,
      subjectAltNameExtension({ uris: [request.spiffeId] }, true),
    ],
  });
}
