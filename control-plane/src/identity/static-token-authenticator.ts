import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { workloadSpiffeId } from '@reseal/core';
import { AuthenticationError, type AuthenticatedCaller, type TokenAuthenticator } from './caller.js';

export interface StaticTokenEntry {
  token: string;
  namespace: string;
  serviceAccount: string;
}

const MIN_TOKEN_LENGTH = 16;

/**
 * Standalone mode (no Kubernetes): bootstrap tokens from a file map to identities.
 * Tokens are kept only as SHA-256 digests and compared in constant time.
 */
export class StaticTokenAuthenticator implements TokenAuthenticator {
  private readonly entries: { digest: Buffer; namespace: string; serviceAccount: string }[];

  constructor(entries: readonly StaticTokenEntry[]) {
    this.entries = entries.map((entry, index) => {
      if (typeof entry.token !== 'string' || entry.token.length < MIN_TOKEN_LENGTH) {
        throw new Error(`static token #${index + 1} must be a string of at least ${MIN_TOKEN_LENGTH} characters`);
      }
      // Validates namespace and service account names.
      workloadSpiffeId('cluster.local', entry.namespace, entry.serviceAccount);
      return { digest: digest(entry.token), namespace: entry.namespace, serviceAccount: entry.serviceAccount };
    });
  }

  static fromFile(path: string): StaticTokenAuthenticator {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new Error(`cannot read static token file ${path}: ${(error as Error).message}`);
    }
    const tokens = (parsed as { tokens?: unknown }).tokens;
    if (!Array.isArray(tokens)) throw new Error(`static token file ${path} must hold {"tokens": [{"token","namespace","serviceAccount"}, ...]}`);
    return new StaticTokenAuthenticator(tokens as StaticTokenEntry[]);
  }

  async authenticate(token: string): Promise<AuthenticatedCaller> {
    const presented = digest(token);
    let match: (typeof this.entries)[number] | undefined;
    // Look at every entry so the time taken does not tell which one matched.
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, presented)) match = entry;
    }
    if (!match) throw new AuthenticationError('unknown bootstrap token');
    return { namespace: match.namespace, serviceAccount: match.serviceAccount, method: 'token' };
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
