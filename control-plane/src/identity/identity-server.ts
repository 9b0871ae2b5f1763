import * as grpc from '@grpc/grpc-js';
import { identityServiceDefinition, type CertifyRequest, type CertifyResponse, type IdentityHandlers } from '@reseal/core';
import type { Logger } from 'pino';
import { CertifyError } from './certify-errors.js';
import type { CertifyService } from './certify-service.js';
import type { ServingIdentity } from './serving-identity.js';

/** A CSR is a few hundred bytes; anything near this is not a CSR. */
export const MAX_REQUEST_BYTES = 16 * 1024;
const BEARER = /^Bearer\s+(\S+)$/i;

/** Another service on the same port and TLS identity (Discovery). */
export interface ServiceRegistration {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

export interface IdentityServer {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * gRPC over TLS on :15012. Client certificates are requested but optional: the first call of a
 * workload carries only a token. When one is presented it is verified against the trust bundle
 * by TLS, and then again by the certificate authenticator before it is believed.
 */
export async function startIdentityServer(options: {
  host: string;
  port: number;
  service: CertifyService;
  servingIdentity: ServingIdentity;
  logger: Logger;
  additionalServices?: readonly ServiceRegistration[];
  /** Discovery snapshots of a large cluster outgrow the 1 MiB that is plenty for Certify. */
  maxSendMessageBytes?: number;
}): Promise<IdentityServer> {
  const { service, logger } = options;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
    'grpc.max_send_message_length': options.maxSendMessageBytes ?? 1024 * 1024,
    'grpc.max_concurrent_streams': 100,
    'grpc.keepalive_time_ms': 60_000,
  });
  const handlers: IdentityHandlers = {
    certify: (call, callback) => {
      handleCertify(service, logger, call).then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(error, logger)),
      );
    },
  };
  server.addService(identityServiceDefinition(), handlers);
  for (const extra of options.additionalServices ?? []) server.addService(extra.definition, extra.implementation);
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(
    options.servingIdentity,
    options.servingIdentity,
    false,
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  logger.info({ event: 'identity_server_listening', port }, 'identity service listening');
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

async function handleCertify(
  service: CertifyService,
  logger: Logger,
  call: grpc.ServerUnaryCall<CertifyRequest, CertifyResponse>,
): Promise<CertifyResponse> {
  const started = process.hrtime.bigint();
  const authorization = call.metadata.get('authorization')[0];
  const bearerToken = typeof authorization === 'string' ? BEARER.exec(authorization)?.[1] : undefined;
  const peer = call.getAuthContext()?.sslPeerCertificate;
  const peerCertificates = peer?.raw ? [peer.raw] : [];
  const request = call.request;
  try {
    const result = await service.certify({
      csr: Buffer.isBuffer(request.csr) ? request.csr : Buffer.alloc(0),
      ttlSeconds: Number(request.ttlSeconds) || 0,
      bearerToken,
      peerCertificates,
    });
    logger.info(
      {
        event: 'certificate_issued',
        spiffeId: result.spiffeId,
        serial: result.serial,
        notAfter: result.notAfter.toISOString(),
        auth: result.caller.method,
        podName: result.caller.podName,
        podUid: result.caller.podUid,
        peer: call.getPeer(),
        latencyMs: Number(process.hrtime.bigint() - started) / 1e6,
      },
      'certificate issued',
    );
    return {
      spiffeId: result.spiffeId,
      certificateChainPem: result.chainPem,
      trustBundlePem: result.trustBundlePem,
      notBefore: String(Math.floor(result.notBefore.getTime() / 1000)),
      notAfter: String(Math.floor(result.notAfter.getTime() / 1000)),
      serial: result.serial,
    };
  } catch (error) {
    if (error instanceof CertifyError) {
      logger.warn({ event: 'certificate_refused', reason: error.reason, code: grpc.status[error.code], message: error.message, peer: call.getPeer() }, 'certificate refused');
    }
    throw error;
  }
}

function toServiceError(error: unknown, logger: Logger): Partial<grpc.ServiceError> {
  if (error instanceof CertifyError) return { code: error.code, details: error.message };
  logger.error({ event: 'certify_internal_error', err: error }, 'certify failed unexpectedly');
  return { code: grpc.status.INTERNAL, details: 'internal error while issuing the certificate' };
}
