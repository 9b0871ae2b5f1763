// Bounded label values for failures: metrics get one of these, logs get the full error.

export type HandshakeFailureReason =
  | 'timeout'
  | 'protocol_version'
  | 'no_alpn'
  | 'untrusted_certificate'
  | 'peer_rejected_certificate'
  | 'no_certificate'
  | 'not_svid'
  | 'identity_mismatch'
  | 'peer_closed'
  | 'no_local_certificate'
  | 'tls_error';

export type ConnectionFailureReason =
  | 'no_original_destination'
  | 'not_synced'
  | 'no_endpoints'
  | 'connect_refused'
  | 'connect_timeout'
  | 'unreachable'
  | 'app_unreachable'
  | 'first_bytes_timeout'
  | 'io_error';

export type PolicyDenialReason = 'not_allowed' | 'plaintext_in_strict' | 'unmeshed_refused';

/** Raised by the outbound side when the server's SPIFFE ID is not the expected one. */
export const IDENTITY_MISMATCH_CODE = 'ERR_RESEAL_IDENTITY_MISMATCH';
/** Raised when the peer's leaf certificate is no X.509-SVID. */
export const NOT_SVID_CODE = 'ERR_RESEAL_NOT_SVID';
/** Raised when the negotiated protocol or ALPN is not the mesh's. */
export const PROTOCOL_VERSION_CODE = 'ERR_RESEAL_PROTOCOL_VERSION';
export const NO_ALPN_CODE = 'ERR_RESEAL_NO_ALPN';
export const HANDSHAKE_TIMEOUT_CODE = 'ERR_RESEAL_HANDSHAKE_TIMEOUT';

export class ProxyError extends Error {
  override name = 'ProxyError';
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

// OpenSSL's X509 verification results as Node reports them (err.code).
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_CHAIN_TOO_LONG',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function handshakeFailureReason(error: unknown): HandshakeFailureReason {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'tls_error';
  switch (code) {
    case IDENTITY_MISMATCH_CODE:
      return 'identity_mismatch';
    case NOT_SVID_CODE:
      return 'not_svid';
    case PROTOCOL_VERSION_CODE:
      return 'protocol_version';
    case NO_ALPN_CODE:
      return 'no_alpn';
    case HANDSHAKE_TIMEOUT_CODE:
    case 'ETIMEDOUT':
      return 'timeout';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR':
      return 'peer_closed';
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
    case 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE':
      return 'no_certificate';
    default:
      break;
  }
  if (UNTRUSTED.has(code)) return 'untrusted_certificate';
  if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|WRONG_VERSION_NUMBER/.test(code)) return 'protocol_version';
  if (/APPLICATION_PROTOCOL/.test(code)) return 'no_alpn';
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|DECRYPT_ERROR|ACCESS_DENIED|UNSUPPORTED_CERTIFICATE|CERTIFICATE_EXPIRED)/.test(code)) {
    return 'peer_rejected_certificate';
  }
  return 'tls_error';
}

export function connectFailureReason(error: unknown): ConnectionFailureReason {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connect_refused';
    case 'ETIMEDOUT':
    case HANDSHAKE_TIMEOUT_CODE:
      return 'connect_timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'unreachable';
    default:
      return 'io_error';
  }
}

/** The error's code or message, for a log line; never includes key material (there is none in TLS errors). */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message.split('\n')[0]}` : error.message.split('\n')[0] ?? '';
  }
  return String(error);
}
