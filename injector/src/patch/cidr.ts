import { isIPv4, isIPv6 } from 'node:net';

// The same rules as reseal-init's --skip-outbound-cidrs (sidecar capture-options.ts): the
// annotation is checked at admission so that the init container never fails on it.

/**
 * Returns the canonical text. A bare address is refused (iptables would read it as /32 and
 * hide a forgotten prefix), and so are host bits below the prefix (iptables would silently
 * widen "198.18.1.0/15" to far more than meant).
 */
export function parseCidr(text: string): string {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not ADDRESS/PREFIX, e.g. 198.18.0.0/15`);
  const address = match[1] ?? '';
  const prefix = Number(match[2]);
  if (isIPv4(address)) {
    if (prefix > 32) throw new Error(`"${text}": an IPv4 prefix is at most 32`);
    const value = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
    if (value % 2 ** (32 - prefix) !== 0) throw new Error(`"${text}": host bits are set below /${prefix}`);
    return `${address}/${prefix}`;
  }
  if (isIPv6(address)) {
    if (prefix > 128) throw new Error(`"${text}": an IPv6 prefix is at most 128`);
    if ((ipv6ToBigInt(address) & ((1n << BigInt(128 - prefix)) - 1n)) !== 0n) throw new Error(`"${text}": host bits are set below /${prefix}`);
    return `${address.toLowerCase()}/${prefix}`;
  }
  throw new Error(`"${text}": "${address}" is not an IPv4 or IPv6 address`);
}

function ipv6ToBigInt(address: string): bigint {
  let text = address;
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
