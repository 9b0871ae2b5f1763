import { X509Certificate } from 'node:crypto';
import { encodePem, generateWorkloadKeyPair, validateTrustDomain } from '@reseal/core';
import { buildCaCertificate } from './ca-certificate-build.js';
import { CaMaterialError, loadCaMaterial } from './ca-material-load.js';
import type { CaPemInput } from './ca-material-load.js';
import { encodeName } from './distinguished-name.js';
import { createIssuer } from './issuer.js';
import type { Issuer } from './issuer.js';
import { CLOCK_SKEW_SECONDS } from './leaf-issue.js';
import type { IssuedCertificate } from './leaf-issue.js';
import { issueServingCertificate } from './serving-cert-issue.js';
import type { ServingCertificateRequest } from './serving-cert-issue.js';
import { issueWorkloadSvid } from './svid-issue.js';
import type { WorkloadSvidRequest } from './svid-issue.js';

export interface GenerateCaOptions {
  readonly trustDomain: string;
  /** Default 10 years. */
  readonly rootTtlSeconds?: number;
  /** Default 1 year; never past the root. */
  readonly issuerTtlSeconds?: number;
  /** Constrain the issuer to URIs of the trust domain (RFC 5280 name constraints). Default true. */
  readonly nameConstraints?: boolean;
  readonly now?: Date;
}

export interface CaFromPemOptions extends CaPemInput {
  /** When given, only SPIFFE IDs of this trust domain are issued. */
  readonly trustDomain?: string;
  /** The time validity is checked at; default now. */
  readonly now?: Date;
}

/** The shape of a kubernetes.io/tls Secret's data, as cert-manager writes it. */
export interface CaSecretData {
  readonly 'tls.crt': string;
  readonly 'tls.key': string;
  readonly 'ca.crt': string;
}

const DEFAULT_ROOT_TTL_SECONDS = 10 * 365 * 86_400;
const DEFAULT_ISSUER_TTL_SECONDS = 365 * 86_400;
// The issuer must outlive at least one maximum-TTL SVID.
const MIN_CA_TTL_SECONDS = 86_400;

/**
 * Reseal's CA: trust anchors (roots) plus the intermediate that signs every leaf. The
 * root key of a generated CA is discarded after signing the intermediate: the Secret holds
 * only what issuance needs, and rotation means a new root in the bundle, not a re-sign.
 */
export class CertificateAuthority {
  readonly #issuer: Issuer;
  readonly #intermediates: readonly X509Certificate[];
  readonly #roots: readonly X509Certificate[];

  private constructor(issuer: Issuer, intermediates: readonly X509Certificate[], roots: readonly X509Certificate[]) {
    this.#issuer = issuer;
    this.#intermediates = intermediates;
    this.#roots = roots;
  }

  static generate(options: GenerateCaOptions): CertificateAuthority {
    validateTrustDomain(options.trustDomain);
    const rootTtl = caTtl(options.rootTtlSeconds, DEFAULT_ROOT_TTL_SECONDS, 'rootTtlSeconds');
    const issuerTtl = Math.min(caTtl(options.issuerTtlSeconds, DEFAULT_ISSUER_TTL_SECONDS, 'issuerTtlSeconds'), rootTtl);
    const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
    const notBefore = new Date((nowSeconds - CLOCK_SKEW_SECONDS) * 1000);

    const root = generateWorkloadKeyPair();
    const rootSubject = encodeName({ organization: 'Reseal', organizationalUnit: options.trustDomain, commonName: 'Reseal Root CA' });
    const rootCertificate = new X509Certificate(
      buildCaCertificate({
        subject: rootSubject,
        publicKey: root.publicKey,
        selfSigningKey: root.privateKey,
        notBefore,
        notAfter: new Date((nowSeconds + rootTtl) * 1000),
      }),
    );
    const rootIssuer = createIssuer(rootCertificate, root.privateKey, [], options.trustDomain);

    const issuing = generateWorkloadKeyPair();
    const issuerCertificate = new X509Certificate(
      buildCaCertificate({
        subject: encodeName({ organization: 'Reseal', organizationalUnit: options.trustDomain, commonName: 'Reseal Issuing CA' }),
        publicKey: issuing.publicKey,
        signer: { subject: rootIssuer.subject, keyId: rootIssuer.keyId, key: root.privateKey },
        notBefore,
        notAfter: new Date((nowSeconds + issuerTtl) * 1000),
        pathLength: 0,
        ...(options.nameConstraints === false ? {} : { permittedTrustDomain: options.trustDomain }),
      }),
    );
    return new CertificateAuthority(createIssuer(issuerCertificate, issuing.privateKey, [], options.trustDomain), [], [rootCertificate]);
  }

  /** Loads bring-your-own material (a kubernetes.io/tls Secret); throws CaMaterialError saying what is wrong. */
  static fromPem(options: CaFromPemOptions): CertificateAuthority {
    if (options.trustDomain !== undefined) validateTrustDomain(options.trustDomain);
    const material = loadCaMaterial(options, options.now ?? new Date());
    let issuer: Issuer;
    try {
      issuer = createIssuer(material.issuerCertificate, material.issuerKey, material.intermediates, options.trustDomain);
    } catch (err) {
      throw new CaMaterialError(`tls.crt issuer certificate cannot be used: ${(err as Error).message}`, { cause: err });
    }
    return new CertificateAuthority(issuer, material.intermediates, material.roots);
  }

  /** For storing back in the Secret: tls.crt = issuer chain, tls.key = PKCS#8, ca.crt = roots. */
  toPem(): CaSecretData {
    return {
      'tls.crt': this.issuerChainPem,
      'tls.key': this.#issuer.key.export({ format: 'pem', type: 'pkcs8' }) as string,
      'ca.crt': this.trustBundlePem,
    };
  }

  issueWorkloadSvid(request: WorkloadSvidRequest): IssuedCertificate {
    return issueWorkloadSvid(this.#issuer, request);
  }

  issueServingCertificate(request: ServingCertificateRequest): IssuedCertificate {
    return issueServingCertificate(this.#issuer, request);
  }

  get trustDomain(): string | undefined {
    return this.#issuer.trustDomain;
  }

  get issuerCertificate(): X509Certificate {
    return this.#issuer.certificate;
  }

  get rootCertificates(): readonly X509Certificate[] {
    return this.#roots;
  }

  get issuerNotAfter(): Date {
    return this.#issuer.notAfter;
  }

  /** The earliest expiry among the trust anchors: when the bundle next needs a new root. */
  get rootNotAfter(): Date {
    return new Date(Math.min(...this.#roots.map((r) => r.validToDate.getTime())));
  }

  /** Every root, PEM: the content of the reseal-trust-bundle ConfigMap. */
  get trustBundlePem(): string {
    return this.#roots.map((r) => encodePem('CERTIFICATE', r.raw)).join('');
  }

  /** The issuer and any intermediates above it, not the root: appended to every leaf. */
  get issuerChainPem(): string {
    return this.#issuer.chainPem;
  }

  get intermediateCertificates(): readonly X509Certificate[] {
    return this.#intermediates;
  }
}

function caTtl(value: number | undefined, fallback: number, name: string): number {
  const ttl = value ?? fallback;
  if (!Number.isInteger(ttl) || ttl < MIN_CA_TTL_SECONDS) throw new RangeError(`${name} must be a whole number of seconds ≥ ${MIN_CA_TTL_SECONDS}, got ${String(value)}`);
  return ttl;
}
