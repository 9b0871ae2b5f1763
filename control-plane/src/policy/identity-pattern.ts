// Allowed-identity patterns of AccessPolicy. The same expression is the `pattern` of the CRD
// schema (a test holds the two together); the control plane checks again because an object
// may predate the schema or come from a topology file.
export { identityMatches } from '@reseal/core';

/**
 * spiffe://<trust-domain>[/<segment>...], optionally followed by "/*" (everything below that
 * path) or "*" right after a segment (segment prefix). A "*" right after the trust domain is
 * refused: "spiffe://cluster.local*" would also admit "spiffe://cluster.local.evil/...".
 */
export const ALLOWED_IDENTITY_PATTERN = '^spiffe://[a-z0-9._-]+((/[A-Za-z0-9._-]+)*/\\*|(/[A-Za-z0-9._-]+)+\\*?)?$';
/** "." and ".." segments are not SPIFFE; RE2 (the apiserver's regex engine) has no lookahead, so this is separate. */
export const DOT_SEGMENT_PATTERN = '/[.][.]?(/|$)';
export const MAX_IDENTITY_LENGTH = 2048;

const allowed = new RegExp(ALLOWED_IDENTITY_PATTERN);
const dotSegment = new RegExp(DOT_SEGMENT_PATTERN);

export function isValidIdentityPattern(pattern: unknown): pattern is string {
  return typeof pattern === 'string' && pattern.length <= MAX_IDENTITY_LENGTH && allowed.test(pattern) && !dotSegment.test(pattern);
}
