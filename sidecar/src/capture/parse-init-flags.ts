import { parseArgs } from 'node:util';

import { CaptureOptionsError, resolveCaptureOptions } from './capture-options.js';
import type { CaptureMode, CaptureOptions } from './capture-options.js';

export type InitAction = 'apply' | 'cleanup' | 'print' | 'help';

export interface InitFlags {
  action: InitAction;
  options: CaptureOptions;
  /** undefined: program ip6tables when the kernel and binary have IPv6. */
  ipv6: boolean | undefined;
}

export const INIT_USAGE = `usage: reseal-init [flags]

Sets up the pod's nat-table capture for reseal-proxy (iptables and, when present, ip6tables).

  --proxy-uid N               UID whose traffic is never captured (default 1337)
  --inbound-port N            where inbound TCP is redirected (default 15006)
  --outbound-port N           where outbound TCP is redirected (default 15001)
  --admin-port N              inbound port never captured (default 15020)
  --mode full|ingress         ingress captures outbound only (default full)
  --skip-inbound-ports 22,80  inbound destination ports left alone
  --skip-outbound-ports 5432  outbound destination ports left alone
  --skip-outbound-cidrs 198.18.0.0/15,...
                              outbound destinations left alone
  --ipv6 auto|on|off          program ip6tables too (default auto: when available)
  --dry-run                   print the commands without running them
  --cleanup                   remove reseal-init's chains and jumps, then exit
  --help                      this text
`;

export class InitFlagsError extends Error {
  override name = 'InitFlagsError';
}

function parseInteger(flag: string, text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InitFlagsError(`--${flag}: "${text}" is not a whole number`);
  return Number(text.trim());
}

function parseList(flag: string, text: string | undefined): string[] {
  if (text === undefined) return [];
  const items = text.split(',').map((item) => item.trim());
  // An empty value is allowed (annotations are often empty); an empty item is a typo.
  if (items.length === 1 && items[0] === '') return [];
  if (items.some((item) => item === '')) throw new InitFlagsError(`--${flag}: "${text}" has an empty item`);
  return items;
}

export function parseInitFlags(argv: readonly string[]): InitFlags {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'proxy-uid': { type: 'string' },
        'inbound-port': { type: 'string' },
        'outbound-port': { type: 'string' },
        'admin-port': { type: 'string' },
        mode: { type: 'string' },
        'skip-inbound-ports': { type: 'string' },
        'skip-outbound-ports': { type: 'string' },
        'skip-outbound-cidrs': { type: 'string' },
        ipv6: { type: 'string' },
        'dry-run': { type: 'boolean' },
        cleanup: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // parseArgs' messages already name the flag ("Unknown option '--x'"); drop its hints
    // about '--' which do not apply here.
    const message = (error as Error).message.split('\n')[0] ?? String(error);
    throw new InitFlagsError(message.replace(/\. To specify .*$/, ''));
  }
  const values = parsed.values;
  if (values.help) return { action: 'help', options: resolveCaptureOptions({}), ipv6: undefined };
  if (values['dry-run'] && values.cleanup) throw new InitFlagsError('--dry-run and --cleanup cannot be combined');

  const partial: Partial<CaptureOptions> = {};
  const integer = (flag: 'proxy-uid' | 'inbound-port' | 'outbound-port' | 'admin-port'): number | undefined => {
    const text = values[flag];
    return text === undefined ? undefined : parseInteger(flag, text);
  };
  const proxyUid = integer('proxy-uid');
  const inboundPort = integer('inbound-port');
  const outboundPort = integer('outbound-port');
  const adminPort = integer('admin-port');
  if (proxyUid !== undefined) partial.proxyUid = proxyUid;
  if (inboundPort !== undefined) partial.inboundPort = inboundPort;
  if (outboundPort !== undefined) partial.outboundPort = outboundPort;
  if (adminPort !== undefined) partial.adminPort = adminPort;
  if (values.mode !== undefined) {
    if (values.mode !== 'full' && values.mode !== 'ingress') {
      throw new InitFlagsError(`--mode: "${values.mode}" is not one of full, ingress`);
    }
    partial.mode = values.mode satisfies CaptureMode;
  }
  partial.skipInboundPorts = parseList('skip-inbound-ports', values['skip-inbound-ports']).map((port) =>
    parseInteger('skip-inbound-ports', port),
  );
  partial.skipOutboundPorts = parseList('skip-outbound-ports', values['skip-outbound-ports']).map((port) =>
    parseInteger('skip-outbound-ports', port),
  );
  partial.skipOutboundCidrs = parseList('skip-outbound-cidrs', values['skip-outbound-cidrs']);

  let ipv6: boolean | undefined;
  switch (values.ipv6 ?? 'auto') {
    case 'auto':
      ipv6 = undefined;
      break;
    case 'on':
      ipv6 = true;
      break;
    case 'off':
      ipv6 = false;
      break;
    default:
      throw new InitFlagsError(`--ipv6: "${values.ipv6}" is not one of auto, on, off`);
  }

  let options: CaptureOptions;
  try {
    options = resolveCaptureOptions(partial);
  } catch (error) {
    if (error instanceof CaptureOptionsError) throw new InitFlagsError(flagNamesIn(error.message));
    throw error;
  }
  const action: InitAction = values.cleanup ? 'cleanup' : values['dry-run'] ? 'print' : 'apply';
  return { action, options, ipv6 };
}

/** Option errors name camelCase fields; on the command line the user typed flags. */
function flagNamesIn(message: string): string {
  const names: Record<string, string> = {
    proxyUid: '--proxy-uid',
    inboundPort: '--inbound-port',
    outboundPort: '--outbound-port',
    adminPort: '--admin-port',
    skipInboundPorts: '--skip-inbound-ports',
    skipOutboundPorts: '--skip-outbound-ports',
    skipOutboundCidrs: '--skip-outbound-cidrs',
  };
  return message.replace(
    /\b(proxyUid|inboundPort|outboundPort|adminPort|skipInboundPorts|skipOutboundPorts|skipOutboundCidrs)\b/g,
    (name) => names[name] ?? name,
  );
}
