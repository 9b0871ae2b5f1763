import { isIPv4, isIPv6 } from 'node:net';

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

export interface ParsedCidr {
  family: 4 | 6;
  /** Canonical text as iptables prints it back, e.g. "198.18.0.0/15". */
  cidr: string;
}

/**
 * Rejects anything iptables would reinterpret: a bare address (iptables reads it as /32,
 * which hides a forgotten prefix) and host bits set below the prefix (iptables silently
 * masks them, so "198.18.1.0/15" would skip far more than the author meant).
 */
export function parseCidr(text: string): ParsedCidr {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) throw new CaptureOptionsError(`CIDR "${text}": expected ADDRESS/PREFIX, e.g. 198.18.0.0/15`);
  const address = match[1] ?? '';
  const prefix = Number(match[2]);
  if (isIPv4(address)) {
    if (prefix > 32) throw new CaptureOptionsError(`CIDR "${text}": an IPv4 prefix is at most 32`);
    const value = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
    const hostBits = 2 ** (32 - prefix);
    if (value % hostBits !== 0) {
      throw new CaptureOptionsError(`CIDR "${text}": host bits are set below /${prefix}`);
    }
    // Leading zeros ("010.0.0.0") are rejected by isIPv4, so the text is canonical.
    return { family: 4, cidr: `${address}/${prefix}` };
  }
  if (isIPv6(address)) {
    if (prefix > 128) throw new CaptureOptionsError(`CIDR "${text}": an IPv6 prefix is at most 128`);
    const bits = ipv6ToBigInt(address);
    const hostMask = (1n << BigInt(128 - prefix)) - 1n;
    if ((bits & hostMask) !== 0n) {
      throw new CaptureOptionsError(`CIDR "${text}": host bits are set below /${prefix}`);
    }
    return { family: 6, cidr: `${address.toLowerCase()}/${prefix}` };
  }
  throw new CaptureOptionsError(`CIDR "${text}": "${address}" is not an IPv4 or IPv6 address`);
}

function ipv6ToBigInt(address: string): bigint {
  let text = address;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...tailGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
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
