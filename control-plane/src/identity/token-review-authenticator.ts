import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { serviceAccountFromUsername } from '@reseal/core';
import { AuthenticationError, type AuthenticatedCaller, type TokenAuthenticator } from './caller.js';

const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';

/**
 * Validates projected ServiceAccount tokens with a TokenReview, so the API server checks
 * signature, expiry, audience and that the ServiceAccount (and bound pod) still exist.
 */
export class TokenReviewAuthenticator implements TokenAuthenticator {
  private readonly api: AuthenticationV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly audience: string,
  ) {
    this.api = kubeConfig.makeApiClient(AuthenticationV1Api);
  }

  async authenticate(token: string): Promise<AuthenticatedCaller> {
    const review = await this.api.createTokenReview({
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [this.audience] },
      },
    });
    const status = review.status;
    if (!status?.authenticated) {
      throw new AuthenticationError(`token refused by TokenReview: ${status?.error || 'not authenticated'}`);
    }
    // The API server answers with the audiences the token is valid for; insist on ours
    // rather than trusting that an empty list means "any".
    if (!status.audiences?.includes(this.audience)) {
      throw new AuthenticationError(`token is not valid for audience "${this.audience}"`);
    }
    const username = status.user?.username ?? '';
    const account = serviceAccountFromUsername(username);
    if (!account) throw new AuthenticationError(`token belongs to "${username}", not to a ServiceAccount`);
    const extra = status.user?.extra ?? {};
    const podName = extra[POD_NAME]?.[0];
    const podUid = extra[POD_UID]?.[0];
    return {
      ...account,
      method: 'token',
      ...(podName ? { podName } : {}),
      ...(podUid ? { podUid } : {}),
    };
  }
}
