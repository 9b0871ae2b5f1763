/**
 * Why a CSR was refused, in gRPC status terms so the identity service can map it 1:1:
 * INVALID_ARGUMENT for anything malformed or cryptographically wrong, PERMISSION_DENIED for
 * a well-formed CSR that asks for more than the caller may have.
 */
export type CsrRejectionCode = 'INVALID_ARGUMENT' | 'PERMISSION_DENIED';

export class CsrRejectedError extends Error {
  override readonly name = 'CsrRejectedError';
  readonly code: CsrRejectionCode;

  constructor(code: CsrRejectionCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
