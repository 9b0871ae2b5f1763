import * as grpc from '@grpc/grpc-js';
import { identityClientConstructor, type CertifyResponse } from '@reseal/core';

/** The name in the control plane's serving certificate; used whatever address it is dialled at. */
export const CONTROL_PLANE_SERVER_NAME = 'reseal-control-plane.reseal-system.svc';

export interface CertifyCall {
  /** host:port of the identity service. */
  address: string;
  serverName: string;
  /** PEM roots the control plane's certificate must chain to. */
  rootsPem: string;
  /** DER PKCS#10. */
  csr: Buffer;
  ttlSeconds: number;
  timeoutMs: number;
  /** Sent as `authorization: Bearer`. */
  token?: string;
  /** Presented as TLS client certificate, for renewal by the current mesh certificate. */
  clientCertificate?: { keyPem: string; chainPem: string };
}

/**
 * One Certify call on a channel of its own. Renewals are minutes apart and the client
 * certificate changes with every rotation, so a long-lived channel would buy nothing and
 * would pin stale credentials and a stale DNS answer.
 */
export function certify(call: CertifyCall): Promise<CertifyResponse> {
  const credentials = call.clientCertificate
    ? grpc.credentials.createSsl(Buffer.from(call.rootsPem), Buffer.from(call.clientCertificate.keyPem), Buffer.from(call.clientCertificate.chainPem))
    : grpc.credentials.createSsl(Buffer.from(call.rootsPem));
  const Client = identityClientConstructor();
  const client = new Client(call.address, credentials, {
    'grpc.ssl_target_name_override': call.serverName,
    'grpc.default_authority': call.serverName,
    // A subchannel of its own: a shared one could still be in reconnect backoff from a
    // previous failure and fail this call without trying.
    'grpc.use_local_subchannel_pool': 1,
  });
  const metadata = new grpc.Metadata();
  if (call.token) metadata.set('authorization', `Bearer ${call.token}`);
  return new Promise<CertifyResponse>((resolve, reject) => {
    client.certify({ csr: call.csr, ttlSeconds: call.ttlSeconds }, metadata, { deadline: Date.now() + call.timeoutMs }, (error, response) => {
      client.close();
      if (error) reject(error);
      else if (!response) reject(new Error('Certify returned no response'));
      else resolve(response);
    });
  });
}

export function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as Partial<grpc.ServiceError>).code === 'number' && 'details' in error;
}

/**
 * True when the control plane was reached but would not accept the token: the token is
 * unknown or expired, or the API server cannot review it now. A valid mesh certificate
 * authenticates the renewal just as well in either case.
 */
export function isTokenRefusal(error: unknown): boolean {
  if (!isServiceError(error)) return false;
  if (error.code === grpc.status.UNAUTHENTICATED) return true;
  return error.code === grpc.status.UNAVAILABLE && /token/i.test(error.details);
}
