import { applyCaptureRules, removeCaptureRules } from './apply-capture-rules.js';
import type { ApplyEnvironment } from './apply-capture-rules.js';
import { buildCaptureRules, formatCommand } from './capture-rules.js';
import { INIT_USAGE, InitFlagsError, parseInitFlags } from './parse-init-flags.js';

export interface InitIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** 0: done; 1: the kernel or iptables refused; 2: bad flags. */
export async function resealInit(
  argv: readonly string[],
  io: InitIo,
  env: Omit<ApplyEnvironment, 'log' | 'ipv6'> = {},
): Promise<number> {
  let flags;
  try {
    flags = parseInitFlags(argv);
  } catch (error) {
    if (!(error instanceof InitFlagsError)) throw error;
    io.stderr(`reseal-init: ${error.message}\n\n${INIT_USAGE}`);
    return 2;
  }
  if (flags.action === 'help') {
    io.stdout(INIT_USAGE);
    return 0;
  }

  const ruleSet = buildCaptureRules(flags.options);
  if (flags.action === 'print') {
    for (const args of ruleSet.ipv4) io.stdout(`${formatCommand('iptables', args)}\n`);
    for (const args of ruleSet.ipv6) io.stdout(`${formatCommand('ip6tables', args)}\n`);
    return 0;
  }

  const log = (line: string): void => io.stdout(`reseal-init: ${line}\n`);
  try {
    const applyEnv: ApplyEnvironment = { ...env, log, ipv6: flags.ipv6 };
    if (flags.action === 'cleanup') {
      await removeCaptureRules(applyEnv);
      log('capture removed');
    } else {
      const result = await applyCaptureRules(ruleSet, applyEnv);
      const counts = result.families.map((family) => `${family.applied.length} ${family.binary} commands`);
      log(`capture installed (mode ${flags.options.mode}): ${counts.join(', ')}`);
    }
    return 0;
  } catch (error) {
    // A pod must not start half-captured: the init container fails and kubelet retries,
    // and the next run starts by removing whatever this one left.
    io.stderr(`reseal-init: ${(error as Error).message}\n`);
    return 1;
  }
}
