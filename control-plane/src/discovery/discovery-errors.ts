import type { status } from '@grpc/grpc-js';

/** A refusal of a Watch call, sent back as a gRPC status with a message saying why. */
export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError';
  constructor(
    readonly code: status,
    message: string,
    /** Short, fixed reason for logs and metrics (bounded cardinality). */
    readonly reason: string,
  ) {
    super(message);
  }
}
