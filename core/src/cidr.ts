import { isIPv4, isIPv6 } from 'node:net';

export interface ParsedCidr {
  family: 4 | 6;
  /** Canonical text as iptables prints it back, e.g. "198.18.0.0/15". */
  cidr: string;
}

export class InvalidCidrError extends Error {
  override readonly name = 'InvalidCidrError';
}

/**
 * One reading of a CIDR for reseal-init's --skip-outbound-cidrs and the injector's
 * annotation, so that what admission accepts the init container never fails on. Rejects
 * what iptables would reinterpret: a bare address (read as /32, hiding a forgotten prefix)
 * and host bits below the prefix (silently masked, so "198.18.1.0/15" would skip far more
 * than meant).
 */
export function parseCidr(text: string): ParsedCidr {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) throw new InvalidCidrError(`CIDR "${text}": expected ADDRESS/PREFIX, e.g. 198.18.0.0/15`);
  const address = match[1] ?? '';
  const prefix = Number(match[2]);
  if (isIPv4(address)) {
    if (prefix > 32) throw new InvalidCidrError(`CIDR "${text}": an IPv4 prefix is at most 32`);
    const value = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
    if (value % 2 ** (32 - prefix) !== 0) throw new InvalidCidrError(`CIDR "${text}": host bits are set below /${prefix}`);
    // Leading zeros ("010.0.0.0") are rejected by isIPv4, so the text is canonical.
    return { family: 4, cidr: `${address}/${prefix}` };
  }
  if (isIPv6(address)) {
    if (prefix > 128) throw new InvalidCidrError(`CIDR "${text}": an IPv6 prefix is at most 128`);
    if ((ipv6ToBigInt(address) & ((1n << BigInt(128 - prefix)) - 1n)) !== 0n) {
      throw new InvalidCidrError(`CIDR "${text}": host bits are set below /${prefix}`);
    }
    return { family: 6, cidr: `${address.toLowerCase()}/${prefix}` };
  }
  throw new InvalidCidrError(`CIDR "${text}": "${address}" is not an IPv4 or IPv6 address`);
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
  const missing = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  return [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups].reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}
