// TypeScript view of reseal.identity.v1 as @grpc/proto-loader delivers it
// (camelCase fields, bytes as Buffer, int64 as string).
import type * as grpc from '@grpc/grpc-js';
import { loadService } from './load-service.js';

export const IDENTITY_SERVICE = 'reseal.identity.v1.Identity';
export const IDENTITY_PORT = 15012;

export interface CertifyRequest {
  csr: Buffer;
  ttlSeconds: number;
}

export interface CertifyResponse {
  spiffeId: string;
  certificateChainPem: string;
  trustBundlePem: string;
  notBefore: string;
  notAfter: string;
  serial: string;
}

export interface IdentityClient extends grpc.Client {
  certify(
    request: Partial<CertifyRequest>,
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    callback: (error: grpc.ServiceError | null, response?: CertifyResponse) => void,
  ): grpc.ClientUnaryCall;
}

export interface IdentityHandlers extends grpc.UntypedServiceImplementation {
  certify: grpc.handleUnaryCall<CertifyRequest, CertifyResponse>;
}

export function identityServiceDefinition(): grpc.ServiceDefinition {
  return loadService('reseal/identity/v1/identity.proto', IDENTITY_SERVICE).service;
}

export function identityClientConstructor(): new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => IdentityClient {
  return loadService('reseal/identity/v1/identity.proto', IDENTITY_SERVICE) as unknown as new (
    address: string,
    credentials: grpc.ChannelCredentials,
    options?: grpc.ChannelOptions,
  ) => IdentityClient;
}
