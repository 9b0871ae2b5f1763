// TypeScript view of reseal.discovery.v1 as @grpc/proto-loader delivers it (camelCase fields,
// uint64 as string, absent messages as null), plus the one rule both ends must read the same
// way: how an allowed-identity pattern matches a client's SPIFFE ID.
import type * as grpc from '@grpc/grpc-js';
import { loadService } from './load-service.js';

export const DISCOVERY_SERVICE = 'reseal.discovery.v1.Discovery';
/** Served next to Identity on the same TLS port. */
export const DISCOVERY_PORT = 15012;

export interface WatchRequest {
  podNamespace: string;
  podName: string;
  podIp: string;
}

export interface DiscoveryEndpoint {
  ip: string;
  identity: string;
  meshed: boolean;
  namespace: string;
  podName: string;
  workload: string;
}

export interface DiscoveryPortEndpoint {
  ip: string;
  port: number;
  ready: boolean;
}

export interface DiscoveryServicePort {
  port: number;
  protocol: string;
  endpoints: DiscoveryPortEndpoint[];
}

export interface DiscoveryService {
  clusterIp: string;
  namespace: string;
  name: string;
  ports: DiscoveryServicePort[];
}

export type WireMtlsMode = 'STRICT' | 'PERMISSIVE';

export interface PortRule {
  /** 0 = every port. */
  port: number;
  allowedIdentities: string[];
}

export interface InboundPolicy {
  mtlsMode: WireMtlsMode;
  restricted: boolean;
  rules: PortRule[];
}

export interface WatchResponse {
  fullSnapshot: boolean;
  endpoints: DiscoveryEndpoint[];
  removedEndpoints: string[];
  services: DiscoveryService[];
  removedServices: string[];
  /** Null (received) or absent (sent) when unchanged. */
  inboundPolicy?: InboundPolicy | null;
  /** Empty when unchanged. */
  trustBundlePem: string;
  /** uint64: a string when received; a number is accepted when sending. */
  version: string | number;
}

export interface DiscoveryClient extends grpc.Client {
  watch(request: Partial<WatchRequest>, metadata: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<WatchResponse>;
}

export interface DiscoveryHandlers extends grpc.UntypedServiceImplementation {
  watch: grpc.handleServerStreamingCall<WatchRequest, WatchResponse>;
}

export function discoveryServiceDefinition(): grpc.ServiceDefinition {
  return loadService('reseal/discovery/v1/discovery.proto', DISCOVERY_SERVICE).service;
}

export function discoveryClientConstructor(): new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => DiscoveryClient {
  return loadService('reseal/discovery/v1/discovery.proto', DISCOVERY_SERVICE) as unknown as new (
    address: string,
    credentials: grpc.ChannelCredentials,
    options?: grpc.ChannelOptions,
  ) => DiscoveryClient;
}

/**
 * Does an allowed-identity pattern admit `id`? Exact match, or a prefix match when the pattern
 * ends in "*". The control plane only ever sends patterns that passed its validation (no bare
 * "*", no wildcard right after the trust domain), so a prefix cannot cross a trust domain.
 */
export function identityMatches(pattern: string, id: string): boolean {
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    // An empty prefix would admit everyone; refuse it even if it slipped through validation.
    return prefix.length > 0 && id.startsWith(prefix);
  }
  return pattern === id;
}
