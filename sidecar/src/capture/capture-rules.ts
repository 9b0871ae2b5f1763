import { parseCidr, resolveCaptureOptions } from './capture-options.js';
import type { CaptureOptions } from './capture-options.js';

export type IpFamily = 4 | 6;

/** reseal-init owns exactly these chains; anything else in the nat table is left alone. */
export const CAPTURE_CHAINS = Object.freeze({
  inbound: 'RESEAL_INBOUND',
  redirectIn: 'RESEAL_REDIRECT_IN',
  output: 'RESEAL_OUTPUT',
  redirectOut: 'RESEAL_REDIRECT_OUT',
});

export const OWN_CHAINS: readonly string[] = Object.values(CAPTURE_CHAINS);

/** Arguments to one `iptables`/`ip6tables` invocation, without the binary name. */
export type IptablesArgs = readonly string[];

export interface CaptureRuleSet {
  options: CaptureOptions;
  ipv4: IptablesArgs[];
  ipv6: IptablesArgs[];
}

const LOOPBACK: Record<IpFamily, string> = { 4: '127.0.0.1/32', 6: '::1/128' };

/**
 * The nat-table commands that set up capture, in the order they must run: own chains
 * first, then their contents, and the jumps from the built-in chains last, so a
 * failure part-way never leaves traffic jumping into a half-filled chain.
 */
export function buildCaptureRules(partial: Partial<CaptureOptions>): CaptureRuleSet {
  const options = resolveCaptureOptions(partial);
  return { options, ipv4: rulesFor(options, 4), ipv6: rulesFor(options, 6) };
}

function rulesFor(options: CaptureOptions, family: IpFamily): IptablesArgs[] {
  const { inbound, redirectIn, output, redirectOut } = CAPTURE_CHAINS;
  const nat = (...args: string[]): IptablesArgs => ['-t', 'nat', ...args];
  const captureInbound = options.mode === 'full';
  const rules: IptablesArgs[] = [];

  if (captureInbound) rules.push(nat('-N', inbound), nat('-N', redirectIn));
  rules.push(nat('-N', output), nat('-N', redirectOut));

  if (captureInbound) {
    rules.push(nat('-A', redirectIn, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(options.inboundPort)));
    // kubelet probes and scrapes reach the admin port in plaintext, never through mTLS.
    for (const port of [options.adminPort, ...options.skipInboundPorts]) {
      rules.push(nat('-A', inbound, '-p', 'tcp', '--dport', String(port), '-j', 'RETURN'));
    }
    rules.push(nat('-A', inbound, '-p', 'tcp', '-j', redirectIn));
  }

  rules.push(nat('-A', redirectOut, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(options.outboundPort)));
  // The proxy's own upstream connections must leave the pod; capturing them would loop.
  rules.push(nat('-A', output, '-m', 'owner', '--uid-owner', String(options.proxyUid), '-j', 'RETURN'));
  // App-to-sidecar and app-to-self traffic stays on loopback and is not meshed.
  rules.push(nat('-A', output, '-o', 'lo', '-j', 'RETURN'));
  rules.push(nat('-A', output, '-d', LOOPBACK[family], '-j', 'RETURN'));
  for (const port of options.skipOutboundPorts) {
    rules.push(nat('-A', output, '-p', 'tcp', '--dport', String(port), '-j', 'RETURN'));
  }
  for (const text of options.skipOutboundCidrs) {
    const { family: cidrFamily, cidr } = parseCidr(text);
    if (cidrFamily === family) rules.push(nat('-A', output, '-d', cidr, '-j', 'RETURN'));
  }
  rules.push(nat('-A', output, '-p', 'tcp', '-j', redirectOut));

  if (captureInbound) rules.push(nat('-A', 'PREROUTING', '-p', 'tcp', '-j', inbound));
  rules.push(nat('-A', 'OUTPUT', '-p', 'tcp', '-j', output));
  return rules;
}

/** Shell-readable form for logs and error messages; the args are never run through a shell. */
export function formatCommand(binary: string, args: IptablesArgs): string {
  return [binary, ...args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)).join(' ');
}
