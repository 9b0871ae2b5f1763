import { existsSync } from 'node:fs';

import { OWN_CHAINS, formatCommand } from './capture-rules.js';
import type { CaptureRuleSet, IpFamily, IptablesArgs } from './capture-rules.js';
import { detectIptablesBackend } from './iptables-backend.js';
import type { IptablesBackend } from './iptables-backend.js';
import { runCommand } from './run-command.js';
import type { RunCommand } from './run-command.js';

export class CaptureCommandError extends Error {
  override name = 'CaptureCommandError';
  constructor(
    readonly command: string,
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    super(`${command} failed (exit ${exitCode}): ${stderr.trim() || 'no error output'}`);
  }
}

export interface ApplyEnvironment {
  run?: RunCommand;
  /** One line per call, no trailing newline. */
  log?: (line: string) => void;
  /** Skips detection; tests and callers that already know the backend pass it. */
  backend?: IptablesBackend;
  /** Whether to program ip6tables; by default, when the kernel has IPv6 and the binary exists. */
  ipv6?: boolean;
}

export interface AppliedFamily {
  family: IpFamily;
  binary: string;
  /** The commands run to set up capture, formatted for a shell. */
  applied: string[];
  /** The commands run to remove what an earlier run left, formatted for a shell. */
  removed: string[];
}

export interface ApplyResult {
  backend: IptablesBackend;
  families: AppliedFamily[];
  /** Families left alone, with the reason. */
  skipped: string[];
}

const BUILTIN_NAT_CHAINS = new Set(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);

/**
 * Removes every trace of an earlier run (jumps into our chains, then the chains), then
 * runs the rule set. Running it twice therefore leaves the same ruleset as once, even
 * when the options changed between runs (a jump from PREROUTING disappears when the
 * mode becomes ingress).
 */
export async function applyCaptureRules(
  ruleSet: CaptureRuleSet,
  env: ApplyEnvironment = {},
): Promise<ApplyResult> {
  return program(ruleSet, env);
}

/** Removes reseal-init's chains and the jumps into them, and nothing else. */
export async function removeCaptureRules(env: ApplyEnvironment = {}): Promise<ApplyResult> {
  return program(undefined, env);
}

async function program(ruleSet: CaptureRuleSet | undefined, env: ApplyEnvironment): Promise<ApplyResult> {
  const run = env.run ?? runCommand;
  const log = env.log ?? (() => {});
  const backend = env.backend ?? (await detectIptablesBackend(run));
  log(`backend: ${backend.binary[4]} (${backend.reason})`);

  const result: ApplyResult = { backend, families: [], skipped: [] };
  for (const family of [4, 6] as const) {
    const binary = backend.binary[family];
    if (family === 6) {
      const skip = await ipv6SkipReason(run, binary, env.ipv6);
      if (skip) {
        result.skipped.push(`IPv6: ${skip}`);
        log(`IPv6: skipped (${skip})`);
        continue;
      }
    }
    const exec = async (args: IptablesArgs): Promise<string> => {
      // The legacy backend serialises writers with a lock file; wait for it rather than
      // fail when another writer (kube-proxy, a CNI plugin) holds it.
      const fullArgs = backend.variant === 'nft' ? args : ['-w', '5', ...args];
      const text = formatCommand(binary, fullArgs);
      const outcome = await run(binary, fullArgs);
      if (outcome.code !== 0) throw new CaptureCommandError(text, outcome.code, outcome.stderr);
      return text;
    };

    const removed: string[] = [];
    for (const args of await staleCommands(run, binary)) {
      const text = await exec(args);
      removed.push(text);
      log(`removed: ${text}`);
    }
    const applied: string[] = [];
    for (const args of ruleSet ? (family === 4 ? ruleSet.ipv4 : ruleSet.ipv6) : []) {
      const text = await exec(args);
      applied.push(text);
      log(`applied: ${text}`);
    }
    result.families.push({ family, binary, applied, removed });
  }
  return result;
}

async function ipv6SkipReason(run: RunCommand, binary: string, wanted: boolean | undefined): Promise<string | undefined> {
  if (wanted === false) return 'disabled';
  if (wanted === undefined && !existsSync('/proc/net/if_inet6')) return 'the kernel has no IPv6';
  if (wanted === undefined) {
    const probe = await run(binary, ['--version']);
    if (probe.code === 127) return `${binary} is not installed`;
  }
  return undefined;
}

/** Commands that undo an earlier run: jumps first, so the chains can then be deleted. */
async function staleCommands(run: RunCommand, binary: string): Promise<IptablesArgs[]> {
  const listing = await run(binary, ['-t', 'nat', '-S']);
  if (listing.code !== 0) {
    throw new CaptureCommandError(formatCommand(binary, ['-t', 'nat', '-S']), listing.code, listing.stderr);
  }
  const jumps: IptablesArgs[] = [];
  const chains: string[] = [];
  for (const line of listing.stdout.split('\n')) {
    const words = splitRuleLine(line);
    if (words[0] === '-N' && words[1] && OWN_CHAINS.includes(words[1])) chains.push(words[1]);
    if (words[0] !== '-A' || !words[1] || !BUILTIN_NAT_CHAINS.has(words[1])) continue;
    const target = words[words.indexOf('-j') + 1];
    if (words.includes('-j') && target && OWN_CHAINS.includes(target)) {
      jumps.push(['-t', 'nat', '-D', ...words.slice(1)]);
    }
  }
  // Flush all before deleting any: our chains jump into each other.
  return [
    ...jumps,
    ...chains.map((chain): IptablesArgs => ['-t', 'nat', '-F', chain]),
    ...chains.map((chain): IptablesArgs => ['-t', 'nat', '-X', chain]),
  ];
}

/** Splits one `iptables -S` line into words, honouring the double quotes it prints around comments. */
export function splitRuleLine(line: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const match of line.matchAll(pattern)) {
    words.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] ?? ''));
  }
  return words;
}
