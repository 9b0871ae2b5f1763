import type { IpFamily } from './capture-rules.js';
import type { RunCommand } from './run-command.js';

export type IptablesVariant = 'nft' | 'legacy' | 'default';

export interface IptablesBackend {
  variant: IptablesVariant;
  /** Binary per family, e.g. { 4: 'iptables-nft', 6: 'ip6tables-nft' }. */
  binary: Record<IpFamily, string>;
  save: Record<IpFamily, string>;
  /** Why this backend was chosen, for the log. */
  reason: string;
}

function backendFor(variant: IptablesVariant, reason: string): IptablesBackend {
  const suffix = variant === 'default' ? '' : `-${variant}`;
  return {
    variant,
    binary: { 4: `iptables${suffix}`, 6: `ip6tables${suffix}` },
    save: { 4: `iptables${suffix}-save`, 6: `ip6tables${suffix}-save` },
    reason,
  };
}

export class IptablesBackendError extends Error {
  override name = 'IptablesBackendError';
}

/**
 * Chooses between iptables-nft and iptables-legacy the way istio-iptables does. Both
 * can be in the kernel at once, and rules written with the wrong one are still applied
 * but invisible to the tooling that manages the rest of the pod's (or node's) rules; so
 * the variant that already holds rules in this network namespace wins. With no rules
 * anywhere, the system's default `iptables` variant is used if the kernel accepts it,
 * else the other one.
 */
export async function detectIptablesBackend(run: RunCommand): Promise<IptablesBackend> {
  for (const variant of ['nft', 'legacy'] as const) {
    for (const family of [4, 6] as const) {
      const save = backendFor(variant, '').save[family];
      const result = await run(save, []);
      // Only real rules count: some kernels instantiate empty tables on first look.
      if (result.code === 0 && /^-A /m.test(result.stdout)) {
        return backendFor(variant, `${save} shows existing rules in this network namespace`);
      }
    }
  }

  const version = await run('iptables', ['--version']);
  const defaultVariant: IptablesVariant | undefined = /nf_tables/.test(version.stdout)
    ? 'nft'
    : /legacy/.test(version.stdout)
      ? 'legacy'
      : undefined;
  const order: IptablesVariant[] =
    defaultVariant === 'legacy' ? ['legacy', 'nft', 'default'] : ['nft', 'legacy', 'default'];

  const failures: string[] = [];
  for (const variant of order) {
    const backend = backendFor(variant, '');
    const probe = await run(backend.binary[4], ['-t', 'nat', '-S']);
    if (probe.code === 0) {
      const why =
        variant === defaultVariant
          ? `no existing rules; ${backend.binary[4]} is the system default and the kernel accepts it`
          : `no existing rules; ${backend.binary[4]} is the first variant the kernel accepts`;
      return { ...backend, reason: why };
    }
    failures.push(`${backend.binary[4]} -t nat -S: ${probe.stderr.trim() || `exit ${probe.code}`}`);
  }
  throw new IptablesBackendError(`no usable iptables backend:\n  ${failures.join('\n  ')}`);
}
