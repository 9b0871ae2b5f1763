/** A workload whose identity the control plane has established (never from the CSR itself). */
export interface AuthenticatedCaller {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** How the caller proved who it is, for logs and metrics. */
  readonly method: 'token' | 'certificate';
  /** From the TokenReview's extra fields when the token is pod-bound; for logs only. */
  readonly podName?: string;
  readonly podUid?: string;
}

/** Thrown by an authenticator; the message says why and goes back to the caller. */
export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError';
}

/** Token in, identity out: the issuance service knows only this, Kubernetes stays at the edge. */
export interface TokenAuthenticator {
  authenticate(token: string): Promise<AuthenticatedCaller>;
}
