import type { status } from '@grpc/grpc-js';

/** A refusal that goes back to the caller as a gRPC status with a message saying why. */
export class CertifyError extends Error {
  override readonly name = 'CertifyError';
  constructor(
    readonly code: status,
    message: string,
    /** Short, fixed reason for metrics and logs (bounded cardinality). */
    readonly reason: string,
  ) {
    super(message);
  }
}
