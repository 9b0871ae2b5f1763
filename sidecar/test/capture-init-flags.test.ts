import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { InitFlagsError, parseInitFlags } from '../src/capture/parse-init-flags.js';
import { resealInit } from '../src/capture/reseal-init.js';
import type { RunCommand } from '../src/capture/run-command.js';

function rejects(argv: string[], pattern: RegExp): void {
  assert.throws(() => parseInitFlags(argv), (error: unknown) => {
    assert.ok(error instanceof InitFlagsError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

describe('reseal-init flags', () => {
  test('every documented flag, in both --flag value and --flag=value forms', () => {
    const flags = parseInitFlags([
      '--proxy-uid', '1337',
      '--inbound-port=15006',
      '--outbound-port', '15001',
      '--admin-port', '15020',
      '--mode', 'ingress',
      '--skip-inbound-ports', '22,80',
      '--skip-outbound-ports=5432, 6379',
      '--skip-outbound-cidrs', '198.18.0.0/15,198.19.1.0/24',
      '--ipv6', 'off',
    ]);
    assert.equal(flags.action, 'apply');
    assert.equal(flags.ipv6, false);
    assert.deepEqual(flags.options, {
      proxyUid: 1337,
      inboundPort: 15006,
      outboundPort: 15001,
      adminPort: 15020,
      mode: 'ingress',
      skipInboundPorts: [22, 80],
      skipOutboundPorts: [5432, 6379],
      skipOutboundCidrs: ['198.18.0.0/15', '198.19.1.0/24'],
    });
  });

  test('no flags means the ARCHITECTURE.md defaults; empty lists are allowed', () => {
    const flags = parseInitFlags(['--skip-inbound-ports', '', '--skip-outbound-cidrs=']);
    assert.equal(flags.options.proxyUid, 1337);
    assert.equal(flags.options.mode, 'full');
    assert.deepEqual(flags.options.skipInboundPorts, []);
    assert.deepEqual(flags.options.skipOutboundCidrs, []);
    assert.equal(flags.ipv6, undefined);
  });

  test('actions', () => {
    assert.equal(parseInitFlags(['--dry-run']).action, 'print');
    assert.equal(parseInitFlags(['--cleanup']).action, 'cleanup');
    assert.equal(parseInitFlags(['-h']).action, 'help');
    rejects(['--dry-run', '--cleanup'], /cannot be combined/);
  });

  test('bad flags are named in the error', () => {
    rejects(['--bogus'], /Unknown option '--bogus'/);
    rejects(['extra'], /extra/);
    rejects(['--proxy-uid'], /--proxy-uid/);
    rejects(['--proxy-uid', 'abc'], /^--proxy-uid: "abc" is not a whole number/);
    rejects(['--proxy-uid', '0'], /^--proxy-uid: 0 \(root\)/);
    rejects(['--inbound-port', '70000'], /^--inbound-port: 70000 is not a TCP port/);
    rejects(['--outbound-port', '-1'], /--outbound-port/);
    rejects(['--mode', 'half'], /^--mode: "half" is not one of full, ingress/);
    rejects(['--skip-inbound-ports', '22,,80'], /^--skip-inbound-ports: "22,,80" has an empty item/);
    rejects(['--skip-inbound-ports', '22,http'], /^--skip-inbound-ports: "http" is not a whole number/);
    rejects(['--skip-outbound-ports', '0'], /^--skip-outbound-ports: 0 is not a TCP port/);
    rejects(['--skip-outbound-cidrs', '198.18.0.0'], /^--skip-outbound-cidrs: CIDR "198.18.0.0"/);
    rejects(['--skip-outbound-cidrs', '198.18.0.0/15,bad/8'], /^--skip-outbound-cidrs: CIDR "bad\/8"/);
    rejects(['--ipv6', 'maybe'], /^--ipv6: "maybe"/);
  });
});

describe('resealInit exit codes', () => {
  const capture = () => {
    let stdout = '';
    let stderr = '';
    return {
      io: { stdout: (text: string) => void (stdout += text), stderr: (text: string) => void (stderr += text) },
      out: () => stdout,
      err: () => stderr,
    };
  };
  const neverRun: RunCommand = async () => {
    throw new Error('no command should run');
  };

  test('bad flags exit 2 with the reason and the usage on stderr', async () => {
    const { io, out, err } = capture();
    assert.equal(await resealInit(['--mode', 'half'], io, { run: neverRun }), 2);
    assert.match(err(), /^reseal-init: --mode: "half" is not one of full, ingress\n/);
    assert.match(err(), /usage: reseal-init/);
    assert.equal(out(), '');
  });

  test('--dry-run prints the iptables and ip6tables commands without running any', async () => {
    const { io, out } = capture();
    assert.equal(await resealInit(['--dry-run', '--mode', 'ingress'], io, { run: neverRun }), 0);
    const lines = out().trim().split('\n');
    assert.equal(lines[0], 'iptables -t nat -N RESEAL_OUTPUT');
    assert.ok(lines.includes('ip6tables -t nat -A RESEAL_OUTPUT -d ::1/128 -j RETURN'));
  });

  test('a refused command exits 1 and stderr names it', async () => {
    const { io, err } = capture();
    const run: RunCommand = async (binary, args) => {
      if (args.includes('--dport')) return { code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.\n' };
      return { code: 0, stdout: binary.endsWith('-save') ? '' : '', stderr: '' };
    };
    const backend = {
      variant: 'nft' as const,
      binary: { 4: 'iptables-nft', 6: 'ip6tables-nft' },
      save: { 4: 'iptables-nft-save', 6: 'ip6tables-nft-save' },
      reason: 'test',
    };
    assert.equal(await resealInit(['--ipv6', 'off'], io, { run, backend }), 1);
    assert.equal(
      err(),
      'reseal-init: iptables-nft -t nat -A RESEAL_INBOUND -p tcp --dport 15020 -j RETURN failed (exit 1): ' +
        'iptables: No chain/target/match by that name.\n',
    );
  });
});
