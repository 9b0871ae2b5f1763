import type { WireMtlsMode } from '@reseal/core';

/** Namespace annotation, and the same key on a pod for a per-workload override. */
export const MTLS_MODE_ANNOTATION = 'reseal.dev/mtls-mode';
export const DEFAULT_MTLS_MODE: WireMtlsMode = 'STRICT';

export type MtlsModeSetting = { kind: 'unset' } | { kind: 'valid'; mode: WireMtlsMode } | { kind: 'invalid'; raw: string };

/** Case and surrounding blanks are forgiven; anything else is invalid and the caller falls back to STRICT. */
export function parseMtlsMode(raw: string | undefined): MtlsModeSetting {
  if (raw === undefined || raw.trim() === '') return { kind: 'unset' };
  const value = raw.trim().toUpperCase();
  if (value === 'STRICT' || value === 'PERMISSIVE') return { kind: 'valid', mode: value };
  return { kind: 'invalid', raw };
}
