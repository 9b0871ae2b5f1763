import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: ServingStatus;
}

export interface HealthClient extends grpc.Client {
  check(
    request: HealthCheckRequest,
    options: Partial<grpc.CallOptions>,
    callback: (error: grpc.ServiceError | null, response?: HealthCheckResponse) => void,
  ): grpc.ClientUnaryCall;
}

let loaded: grpc.ServiceClientConstructor | undefined;

/** grpc.health.v1.Health from core/proto, loaded once; the standard protocol kubelet's gRPC probes speak. */
export function healthService(): grpc.ServiceClientConstructor {
  if (loaded) return loaded;
  const protoFile = createRequire(import.meta.url).resolve('@reseal/core/proto/grpc/health/v1/health.proto');
  const definition = protoLoader.loadSync('grpc/health/v1/health.proto', {
    includeDirs: [dirname(dirname(dirname(dirname(protoFile))))],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
  loaded = pkg.grpc.health.v1.Health;
  return loaded;
}

export function healthClientConstructor(): new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => HealthClient {
  return healthService() as unknown as new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => HealthClient;
}
