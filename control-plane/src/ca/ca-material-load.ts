import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { decodePemAll, decodePemOne, isP256Key, readCertificateFields } from '@reseal/core';

/** Bring-your-own CA material that cannot be used, with a message an operator can act on. */
export class CaMaterialError extends Error {
  override readonly name = 'CaMaterialError';
}

export interface CaPemInput {
  /** tls.crt: the issuing CA certificate, optionally followed by its intermediates. */
  readonly issuerCertPem: string;
  /** tls.key: the issuing CA's key, PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"). */
  readonly issuerKeyPem: string;
  /** ca.crt: the trust anchors; several during a root rotation. */
  readonly caBundlePem: string;
  /** More intermediates between the issuer and a root, if tls.crt does not carry them. */
  readonly chainPem?: string;
}

export interface CaMaterial {
  readonly issuerCertificate: X509Certificate;
  readonly issuerKey: KeyObject;
  /** From the issuer's parent up to, not including, the trust anchor. */
  readonly intermediates: X509Certificate[];
  readonly roots: X509Certificate[];
}

const MAX_CHAIN_DEPTH = 8;
const KEY_CERT_SIGN = 0x04;

export function loadCaMaterial(input: CaPemInput, now: Date): CaMaterial {
  const [issuerCertificate, ...carried] = readCertificates(input.issuerCertPem, 'tls.crt');
  if (issuerCertificate === undefined) throw new CaMaterialError('tls.crt holds no certificate');
  const extra = input.chainPem === undefined || input.chainPem.trim() === '' ? [] : readCertificates(input.chainPem, 'chain');
  const roots = readCertificates(input.caBundlePem, 'ca.crt');
  const issuerKey = readIssuerKey(input.issuerKeyPem);

  const issuerName = describe(issuerCertificate);
  if (!issuerCertificate.checkPrivateKey(issuerKey)) {
    throw new CaMaterialError(`tls.key does not match the certificate in tls.crt (${issuerName}): the Secret mixes material from two CAs`);
  }
  checkCa(issuerCertificate, 'tls.crt issuer certificate');
  checkCurrent(issuerCertificate, 'tls.crt issuer certificate', now);
  roots.forEach((root, i) => checkCa(root, `ca.crt certificate ${i + 1}`));

  const intermediates = chainToRoot(issuerCertificate, [...carried, ...extra], roots);
  intermediates.forEach((c) => checkCurrent(c, 'intermediate certificate', now));
  return { issuerCertificate, issuerKey, intermediates, roots };
}

/** Walks issuer → intermediates → a root in the bundle, by name and signature. */
function chainToRoot(issuer: X509Certificate, pool: readonly X509Certificate[], roots: readonly X509Certificate[]): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let current = issuer;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    const anchor = roots.find((root) => root.raw.equals(current.raw) || issuedBy(current, root));
    if (anchor !== undefined) return chain;
    const parent = pool.find((c) => c !== current && !chain.includes(c) && issuedBy(current, c));
    if (parent === undefined) {
      const anchors = roots.map(describe).join('; ');
      throw new CaMaterialError(
        `the issuer (${issuerDescription(issuer)}) does not chain to any certificate in ca.crt (${anchors}): ` +
          `no root or intermediate signed ${current === issuer ? 'it' : describe(current)} (issuer ${oneLine(current.issuer)})`,
      );
    }
    checkCa(parent, `intermediate certificate ${describe(parent)}`);
    chain.push(parent);
    current = parent;
  }
  throw new CaMaterialError(`the chain from the issuer to ca.crt is longer than ${MAX_CHAIN_DEPTH} certificates`);
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

function readCertificates(pem: string, what: string): X509Certificate[] {
  let ders: Buffer[];
  try {
    ders = decodePemAll(pem, ['CERTIFICATE'], what);
  } catch (err) {
    throw new CaMaterialError(`${what} is not PEM certificates: ${(err as Error).message}`, { cause: err });
  }
  return ders.map((der, i) => {
    try {
      return new X509Certificate(der);
    } catch (err) {
      throw new CaMaterialError(`${what} certificate ${i + 1} is not a valid X.509 certificate: ${(err as Error).message}`, { cause: err });
    }
  });
}

function readIssuerKey(pem: string): KeyObject {
  let block;
  try {
    block = decodePemOne(pem, ['PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY', 'ENCRYPTED PRIVATE KEY'], 'tls.key');
  } catch (err) {
    throw new CaMaterialError(`tls.key is not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (block.label === 'ENCRYPTED PRIVATE KEY') throw new CaMaterialError('tls.key is encrypted; the Secret must hold the key unencrypted');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: block.der, format: 'der', type: block.label === 'EC PRIVATE KEY' ? 'sec1' : block.label === 'RSA PRIVATE KEY' ? 'pkcs1' : 'pkcs8' });
  } catch (err) {
    throw new CaMaterialError(`tls.key cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (!isP256Key(key)) {
    const kind = key.asymmetricKeyType === 'ec' ? `EC ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'}` : (key.asymmetricKeyType ?? 'unknown').toUpperCase();
    throw new CaMaterialError(`tls.key is an ${kind} key; the issuing CA must be ECDSA P-256 (cert-manager: privateKey.algorithm ECDSA, size 256)`);
  }
  return key;
}

function checkCa(cert: X509Certificate, what: string): void {
  // X509Certificate.ca folds keyUsage into its answer; reading both separately lets the error say which is wrong.
  const extensions = readCertificateFields(cert.raw).extensions;
  const basicConstraints = extensions.get('2.5.29.19')?.value;
  // value = 30 len [01 01 ff] …: cA is an explicit TRUE as the first element (DER omits FALSE).
  const isCa = basicConstraints !== undefined && basicConstraints[2] === 0x01 && basicConstraints[3] === 0x01 && basicConstraints[4] === 0xff;
  if (!isCa) throw new CaMaterialError(`${what} (${describe(cert)}) is not a CA: basicConstraints cA is not true`);
  const keyUsage = extensions.get('2.5.29.15')?.value;
  // value = 03 len unused-bits first-octet …; keyCertSign is bit 5.
  if (keyUsage !== undefined && ((keyUsage[3] ?? 0) & KEY_CERT_SIGN) === 0) {
    throw new CaMaterialError(`${what} (${describe(cert)}) may not sign certificates: its keyUsage lacks keyCertSign`);
  }
}

function checkCurrent(cert: X509Certificate, what: string, now: Date): void {
  if (now.getTime() >= cert.validToDate.getTime()) throw new CaMaterialError(`${what} (${describe(cert)}) expired at ${cert.validToDate.toISOString()}`);
  if (now.getTime() < cert.validFromDate.getTime()) throw new CaMaterialError(`${what} (${describe(cert)}) is not valid until ${cert.validFromDate.toISOString()}`);
}

function describe(cert: X509Certificate): string {
  return `subject "${oneLine(cert.subject)}", serial ${cert.serialNumber}`;
}

function issuerDescription(cert: X509Certificate): string {
  return `subject "${oneLine(cert.subject)}"`;
}

/** node prints names one attribute per line, and gives undefined for an empty name. */
function oneLine(name: string | undefined): string {
  return (name ?? '').split('\n').filter(Boolean).join(', ');
}
