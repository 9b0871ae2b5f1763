import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));
const cache = new Map<string, grpc.ServiceClientConstructor>();

/** Loads a service from core/proto once per process; every component shares the same .proto files. */
export function loadService(protoFile: string, fullName: string): grpc.ServiceClientConstructor {
  const cached = cache.get(fullName);
  if (cached) return cached;
  const definition = protoLoader.loadSync(protoFile, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition);
  let node: unknown = loaded;
  for (const part of fullName.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function') throw new Error(`service ${fullName} not found in ${protoFile}`);
  const ctor = node as grpc.ServiceClientConstructor;
  cache.set(fullName, ctor);
  return ctor;
}
