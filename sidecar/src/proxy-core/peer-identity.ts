import type { PeerCertificate, TLSSocket } from 'node:tls';
import { readSvid } from '@reseal/core';
import { IDENTITY_MISMATCH_CODE, NOT_SVID_CODE, ProxyError } from './failure-reason.js';
import type { HandshakeFailureReason } from './failure-reason.js';

export type ClientIdentityResult =
  | { readonly ok: true; readonly identity: string }
  | { readonly ok: false; readonly reason: HandshakeFailureReason; readonly detail: string };

interface TlsWrapHandle {
  verifyError?: () => (Error & { code?: string }) | null | undefined;
}

/**
 * The verified SPIFFE ID of the client of a server-side TLSSocket, after 'secure'.
 *
 * A TLSSocket made with `new TLSSocket(socket, { isServer: true, rejectUnauthorized: true })`
 * outside a tls.Server does NOT reject a client whose chain fails verification: Node
 * always completes the handshake and leaves the verdict to JavaScript (tls.Server does this
 * check in its 'secure' handler). The inbound side peeks at the first bytes before it
 * knows a connection is TLS, so it wraps sockets itself and must read the verdict here;
 * a test with a certificate from a foreign CA guards this against Node changes.
 */
export function verifiedClientIdentity(socket: TLSSocket): ClientIdentityResult {
  const handle = (socket as unknown as { ssl?: TlsWrapHandle | null }).ssl;
  if (typeof handle?.verifyError !== 'function') {
    return { ok: false, reason: 'tls_error', detail: 'the TLS handle cannot report the verification result' };
  }
  const verifyError = handle.verifyError();
  if (verifyError) {
    return { ok: false, reason: 'untrusted_certificate', detail: verifyError.code ?? verifyError.message };
  }
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) {
    return { ok: false, reason: 'no_certificate', detail: 'the client presented no certificate' };
  }
  const svid = readSvid(certificate.raw);
  if (!svid.ok) return { ok: false, reason: 'not_svid', detail: svid.reason };
  return { ok: true, identity: svid.spiffeId };
}

/**
 * A `checkServerIdentity` for tls.connect: the server's leaf must be an X.509-SVID whose
 * only URI SAN is exactly `expected`. Hostnames play no part: pods are dialled by IP.
 */
export function expectServerIdentity(expected: string): (hostname: string, certificate: PeerCertificate) => Error | undefined {
  return (_hostname, certificate) => {
    const raw = certificate?.raw;
    if (!raw) return new ProxyError(NOT_SVID_CODE, 'the server presented no certificate');
    const svid = readSvid(raw);
    if (!svid.ok) return new ProxyError(NOT_SVID_CODE, `the server certificate is no X.509-SVID: ${svid.reason}`);
    if (svid.spiffeId !== expected) {
      return new ProxyError(IDENTITY_MISMATCH_CODE, `identity mismatch: expected ${expected}, the server is ${svid.spiffeId}`);
    }
    return undefined;
  };
}
