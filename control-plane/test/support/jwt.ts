import { createSign, type KeyObject } from 'node:crypto';

/** An RS256 JWT with the claims of a Kubernetes bound ServiceAccount token, signed by `key`. */
export function serviceAccountJwt(
  key: KeyObject | string,
  claims: { issuer: string; namespace: string; serviceAccount: string; uid: string; audience: string[]; issuedAt: number; expiresAt: number },
): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = encode({ alg: 'RS256', typ: 'JWT' });
  const payload = encode({
    aud: claims.audience,
    exp: claims.expiresAt,
    iat: claims.issuedAt,
    nbf: claims.issuedAt,
    iss: claims.issuer,
    sub: `system:serviceaccount:${claims.namespace}:${claims.serviceAccount}`,
    'kubernetes.io': { namespace: claims.namespace, serviceaccount: { name: claims.serviceAccount, uid: claims.uid } },
  });
  const signature = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(key).toString('base64url');
  return `${header}.${payload}.${signature}`;
}
