import { InvalidCidrError, parseCidr as parseSharedCidr, type ParsedCidr } from '@reseal/core';

export type { ParsedCidr };

export type CaptureMode = 'full' | 'ingress';

export interface CaptureOptions {
  proxyUid: number;
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  /** 'ingress' captures outbound only: an ingress gateway's inbound traffic is the edge's. */
  mode: CaptureMode;
  skipInboundPorts: readonly number[];
  skipOutboundPorts: readonly number[];
  skipOutboundCidrs: readonly string[];
}

/** The ports and UID fixed by ARCHITECTURE.md "Sidecar ports and conventions". */
export const DEFAULT_CAPTURE_OPTIONS: CaptureOptions = Object.freeze({
  proxyUid: 1337,
  inboundPort: 15006,
  outboundPort: 15001,
  adminPort: 15020,
  mode: 'full',
  skipInboundPorts: [],
  skipOutboundPorts: [],
  skipOutboundCidrs: [],
});

export class CaptureOptionsError extends Error {
  override name = 'CaptureOptionsError';
}

export function assertPort(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new CaptureOptionsError(`${what}: ${String(value)} is not a TCP port (1-65535)`);
  }
}

/** reseal-init's reading of a CIDR: the shared one, with this module's error type. */
export function parseCidr(text: string): ParsedCidr {
  try {
    return parseSharedCidr(text);
  } catch (error) {
    if (error instanceof InvalidCidrError) throw new CaptureOptionsError(error.message);
    throw error;
  }
}

/** Fills defaults and validates; every error names the offending option. */
export function resolveCaptureOptions(partial: Partial<CaptureOptions>): CaptureOptions {
  const options: CaptureOptions = { ...DEFAULT_CAPTURE_OPTIONS, ...partial };
  if (!Number.isInteger(options.proxyUid) || options.proxyUid < 0 || options.proxyUid > 0xfffffffe) {
    throw new CaptureOptionsError(`proxyUid: ${String(options.proxyUid)} is not a UID`);
  }
  if (options.proxyUid === 0) {
    // Excluding root would exempt every root process in the pod (kubelet exec probes,
    // debug shells) from capture, silently bypassing mTLS.
    throw new CaptureOptionsError('proxyUid: 0 (root) cannot be the proxy UID');
  }
  assertPort(options.inboundPort, 'inboundPort');
  assertPort(options.outboundPort, 'outboundPort');
  assertPort(options.adminPort, 'adminPort');
  if (new Set([options.inboundPort, options.outboundPort, options.adminPort]).size !== 3) {
    throw new CaptureOptionsError(
      `inboundPort, outboundPort and adminPort must differ (got ${options.inboundPort}, ` +
        `${options.outboundPort}, ${options.adminPort})`,
    );
  }
  if (options.mode !== 'full' && options.mode !== 'ingress') {
    throw new CaptureOptionsError(`mode: "${String(options.mode)}" is not one of full, ingress`);
  }
  for (const port of options.skipInboundPorts) assertPort(port, 'skipInboundPorts');
  for (const port of options.skipOutboundPorts) assertPort(port, 'skipOutboundPorts');
  const cidrs = options.skipOutboundCidrs.map((cidr) => {
    try {
      return parseCidr(cidr).cidr;
    } catch (error) {
      throw new CaptureOptionsError(`skipOutboundCidrs: ${(error as Error).message}`);
    }
  });
  return {
    ...options,
    skipInboundPorts: dedupe(options.skipInboundPorts),
    skipOutboundPorts: dedupe(options.skipOutboundPorts),
    skipOutboundCidrs: dedupe(cidrs),
  };
}

function dedupe<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
