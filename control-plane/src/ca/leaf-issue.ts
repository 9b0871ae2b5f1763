import type { KeyObject } from 'node:crypto';
import { encodePem, p256PublicKeySpkiDer, parseSpiffeId } from '@reseal/core';
import { EMPTY_NAME, encodeCertificate } from './certificate-encode.js';
import type { Issuer } from './issuer.js';
import { randomSerial, serialHex } from './random-serial.js';

export interface IssuedCertificate {
  readonly certDer: Buffer;
  readonly certPem: string;
  /** The leaf followed by the issuer chain (without the trust anchor): what a TLS peer presents. */
  readonly chainPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Upper-case hex, as X509Certificate.serialNumber prints it. */
  readonly serial: string;
}

/** How far NotBefore is moved into the past so peers with a slow clock accept a fresh certificate. */
export const CLOCK_SKEW_SECONDS = 60;

export interface TtlRange {
  readonly min: number;
  readonly max: number;
  readonly default: number;
}

export function checkTtl(ttlSeconds: number | undefined, range: TtlRange, what: string): number {
  const ttl = ttlSeconds ?? range.default;
  if (!Number.isInteger(ttl) || ttl < range.min || ttl > range.max) {
    throw new RangeError(`${what} TTL must be a whole number of seconds from ${range.min} to ${range.max}, got ${String(ttlSeconds)}`);
  }
  return ttl;
}

/**
 * NotBefore is back-dated for clock skew but never before the issuer's own NotBefore;
 * NotAfter is clamped to the issuer's NotAfter (RFC 5280 path validation would reject the
 * rest of the leaf's life anyway). Both whole seconds, since X.509 times carry no fraction.
 */
export function leafValidity(issuer: Issuer, now: Date, ttlSeconds: number): { notBefore: Date; notAfter: Date } {
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (!Number.isFinite(nowSeconds)) throw new TypeError('now is not a valid date');
  const issuerFrom = Math.floor(issuer.notBefore.getTime() / 1000);
  const issuerTo = Math.floor(issuer.notAfter.getTime() / 1000);
  if (nowSeconds >= issuerTo) throw new Error(`the issuing CA expired at ${issuer.notAfter.toISOString()}; rotate the CA`);
  if (nowSeconds < issuerFrom) throw new Error(`the issuing CA is not valid before ${issuer.notBefore.toISOString()}`);
  const notBefore = Math.max(nowSeconds - CLOCK_SKEW_SECONDS, issuerFrom);
  const notAfter = Math.min(nowSeconds + ttlSeconds, issuerTo);
  return { notBefore: new Date(notBefore * 1000), notAfter: new Date(notAfter * 1000) };
}

export function leafPublicKeySpki(publicKey: KeyObject): Buffer {
  try {
    return p256PublicKeySpkiDer(publicKey);
  } catch (err) {
    throw new TypeError(`the certificate key must be an EC P-256 public key: ${(err as Error).message}`, { cause: err });
  }
}

export interface LeafSpec {
  readonly spki: Uint8Array;
  readonly extensions: readonly Uint8Array[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Signs a leaf with an empty subject (identities live in the SAN only). */
export function issueLeaf(issuer: Issuer, spec: LeafSpec): IssuedCertificate {
  const serial = randomSerial();
  const certDer = encodeCertificate(
    { serial, issuer: issuer.subject, notBefore: spec.notBefore, notAfter: spec.notAfter, subject: EMPTY_NAME, spki: spec.spki, extensions: spec.extensions },
    issuer.key,
  );
  const certPem = encodePem('CERTIFICATE', certDer);
  return { certDer, certPem, chainPem: certPem + issuer.chainPem, notBefore: spec.notBefore, notAfter: spec.notAfter, serial: serialHex(serial) };
}

/** A CA constrained to a trust domain never signs an identity outside it. */
export function checkInTrustDomain(issuer: Issuer, spiffeId: string): void {
  const { trustDomain } = parseSpiffeId(spiffeId);
  if (issuer.trustDomain !== undefined && trustDomain !== issuer.trustDomain) {
    throw new Error(`SPIFFE ID ${spiffeId} is not in this CA's trust domain ${issuer.trustDomain}`);
  }
}
