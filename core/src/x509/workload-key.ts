import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export interface WorkloadKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** A fresh ECDSA P-256 key pair; sidecars call this on every rotation and never export the private key. */
export function generateWorkloadKeyPair(): WorkloadKeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

/** True when the key is an EC key on P-256, the only curve Reseal issues for. */
export function isP256Key(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}
