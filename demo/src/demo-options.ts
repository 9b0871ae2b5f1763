// The command line of `npm run demo`, parsed once.

export interface DemoOptions {
  /** Run this many seconds, then verify and exit; undefined: until Ctrl-C. */
  durationSeconds: number | undefined;
  /** First port of the block the demo uses (see port-plan.ts). */
  portBase: number;
  edgePort: number;
  /** Client requests per second. */
  rate: number;
  /** Which edge terminator: nginx if installed (auto), or force one. */
  edge: 'auto' | 'nginx' | 'node';
  /** Certificate lifetime asked of the control plane (60 s minimum: a renewal at ~30 s). */
  certTtlSeconds: number;
  help: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage: npm run demo [-- options]

  --duration N     run N seconds, then stop and exit 0 only if every request got through
                   encrypted (default: until Ctrl-C)
  --port-base N    first port of the demo's block N..N+99 (default 15100)
  --edge-port N    the edge's HTTPS port (default 8443)
  --rate N         client requests per second (default 5)
  --edge KIND      nginx, node or auto (default: nginx if it is on PATH, else node)
  --cert-ttl N     workload certificate lifetime in seconds, at least 60 (default 60)
  -h, --help       this text
`;

export function parseDemoOptions(argv: readonly string[]): DemoOptions {
  const options: DemoOptions = { durationSeconds: undefined, portBase: 15100, edgePort: 8443, rate: 5, edge: 'auto', certTtlSeconds: 60, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--duration':
        options.durationSeconds = integer(value(), flag, 1, 86_400);
        break;
      case '--port-base':
        options.portBase = integer(value(), flag, 1024, 65_435);
        break;
      case '--edge-port':
        options.edgePort = integer(value(), flag, 1024, 65_535);
        break;
      case '--rate':
        options.rate = integer(value(), flag, 1, 200);
        break;
      case '--cert-ttl':
        options.certTtlSeconds = integer(value(), flag, 60, 86_400);
        break;
      case '--edge': {
        const kind = value();
        if (kind !== 'auto' && kind !== 'nginx' && kind !== 'node') throw new UsageError(`--edge must be nginx, node or auto, got ${JSON.stringify(kind)}`);
        options.edge = kind;
        break;
      }
      case '-h':
      case '--help':
        options.help = true;
        break;
      default:
        throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  return options;
}

function integer(raw: string, flag: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  return n;
}
