// The executor's decisions against a scripted iptables; the real kernel is exercised in
// capture-netns.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { CaptureCommandError, applyCaptureRules, removeCaptureRules, splitRuleLine } from '../src/capture/apply-capture-rules.js';
import { buildCaptureRules } from '../src/capture/capture-rules.js';
import { IptablesBackendError, detectIptablesBackend } from '../src/capture/iptables-backend.js';
import type { IptablesBackend } from '../src/capture/iptables-backend.js';
import type { CommandResult, RunCommand } from '../src/capture/run-command.js';

const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
const missing = (binary: string): CommandResult => ({ code: 127, stdout: '', stderr: `${binary}: command not found` });

function scripted(answers: Record<string, CommandResult>, fallback: (line: string) => CommandResult = () => ok()) {
  const calls: string[] = [];
  const run: RunCommand = async (binary, args) => {
    const line = [binary, ...args].join(' ');
    calls.push(line);
    return answers[line] ?? fallback(line);
  };
  return { run, calls };
}

const NFT: IptablesBackend = {
  variant: 'nft',
  binary: { 4: 'iptables-nft', 6: 'ip6tables-nft' },
  save: { 4: 'iptables-nft-save', 6: 'ip6tables-nft-save' },
  reason: 'test',
};

const SAVE_WITH_RULES = '*nat\n:PREROUTING ACCEPT [0:0]\n-A OUTPUT -p tcp -j RESEAL_OUTPUT\nCOMMIT\n';
const SAVE_EMPTY_TABLE = '*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';

describe('detectIptablesBackend', () => {
  test('the variant that already holds rules wins, nft checked first', async () => {
    const { run } = scripted({ 'iptables-nft-save': ok(SAVE_WITH_RULES), 'iptables-legacy-save': ok(SAVE_WITH_RULES) });
    const backend = await detectIptablesBackend(run);
    assert.equal(backend.variant, 'nft');
    assert.equal(backend.binary[6], 'ip6tables-nft');
    assert.match(backend.reason, /iptables-nft-save shows existing rules/);
  });

  test('legacy rules (even IPv6 only) select legacy; empty tables do not count', async () => {
    const { run } = scripted({
      'iptables-nft-save': ok(SAVE_EMPTY_TABLE),
      'iptables-legacy-save': ok(SAVE_EMPTY_TABLE),
      'ip6tables-legacy-save': ok(SAVE_WITH_RULES),
    });
    const backend = await detectIptablesBackend(run);
    assert.equal(backend.variant, 'legacy');
    assert.deepEqual(backend.binary, { 4: 'iptables-legacy', 6: 'ip6tables-legacy' });
  });

  test('with no rules anywhere, the system default is used when the kernel accepts it', async () => {
    const legacyDefault = scripted({ 'iptables --version': ok('iptables v1.8.9 (legacy)\n') });
    assert.equal((await detectIptablesBackend(legacyDefault.run)).variant, 'legacy');
    assert.ok(legacyDefault.calls.includes('iptables-legacy -t nat -S'));
    assert.ok(!legacyDefault.calls.includes('iptables-nft -t nat -S'), 'the other variant is not touched');

    const nftDefault = scripted({ 'iptables --version': ok('iptables v1.8.9 (nf_tables)\n') });
    const backend = await detectIptablesBackend(nftDefault.run);
    assert.equal(backend.variant, 'nft');
    assert.match(backend.reason, /system default/);
  });

  test('when the kernel refuses the default, the other variant is tried', async () => {
    const { run } = scripted({
      'iptables --version': ok('iptables v1.8.9 (nf_tables)\n'),
      'iptables-nft -t nat -S': { code: 1, stdout: '', stderr: 'Protocol not supported' },
    });
    const backend = await detectIptablesBackend(run);
    assert.equal(backend.variant, 'legacy');
    assert.match(backend.reason, /first variant the kernel accepts/);
  });

  test('only an unsuffixed iptables (old distributions) is still usable', async () => {
    const { run } = scripted({ 'iptables --version': ok('iptables v1.6.1\n') }, (line) => {
      const binary = line.split(' ')[0] ?? '';
      return /-(nft|legacy)/.test(binary) ? missing(binary) : ok();
    });
    const backend = await detectIptablesBackend(run);
    assert.equal(backend.variant, 'default');
    assert.deepEqual(backend.binary, { 4: 'iptables', 6: 'ip6tables' });
  });

  test('no usable backend is an error listing every attempt', async () => {
    const { run } = scripted({}, (line) => (line.endsWith('-t nat -S') ? { code: 4, stdout: '', stderr: 'Permission denied (you must be root)' } : ok()));
    await assert.rejects(detectIptablesBackend(run), (error: unknown) => {
      assert.ok(error instanceof IptablesBackendError);
      assert.match(error.message, /iptables-nft -t nat -S: Permission denied/);
      assert.match(error.message, /iptables-legacy -t nat -S: Permission denied/);
      return true;
    });
  });
});

describe('applyCaptureRules', () => {
  const previousRun = [
    '-P PREROUTING ACCEPT',
    '-P OUTPUT ACCEPT',
    '-N KUBE-SOMETHING',
    '-N RESEAL_INBOUND',
    '-N RESEAL_OUTPUT',
    '-N RESEAL_REDIRECT_IN',
    '-N RESEAL_REDIRECT_OUT',
    '-A PREROUTING -p tcp -j RESEAL_INBOUND',
    '-A PREROUTING -p tcp -j RESEAL_INBOUND',
    '-A PREROUTING -m comment --comment "keep me" -j KUBE-SOMETHING',
    '-A OUTPUT -p tcp -m comment --comment "older reseal" -j RESEAL_OUTPUT',
    '-A RESEAL_INBOUND -p tcp -j RESEAL_REDIRECT_IN',
    '',
  ].join('\n');

  test('removes every jump into its chains (duplicates too), flushes, deletes, then applies', async () => {
    const { run, calls } = scripted({ 'iptables-nft -t nat -S': ok(previousRun) });
    const logged: string[] = [];
    const ruleSet = buildCaptureRules({});
    const result = await applyCaptureRules(ruleSet, { run, backend: NFT, ipv6: false, log: (line) => logged.push(line) });

    const writes = calls.filter((line) => !line.endsWith('-t nat -S'));
    assert.deepEqual(writes.slice(0, 11), [
      'iptables-nft -t nat -D PREROUTING -p tcp -j RESEAL_INBOUND',
      'iptables-nft -t nat -D PREROUTING -p tcp -j RESEAL_INBOUND',
      'iptables-nft -t nat -D OUTPUT -p tcp -m comment --comment older reseal -j RESEAL_OUTPUT',
      'iptables-nft -t nat -F RESEAL_INBOUND',
      'iptables-nft -t nat -F RESEAL_OUTPUT',
      'iptables-nft -t nat -F RESEAL_REDIRECT_IN',
      'iptables-nft -t nat -F RESEAL_REDIRECT_OUT',
      'iptables-nft -t nat -X RESEAL_INBOUND',
      'iptables-nft -t nat -X RESEAL_OUTPUT',
      'iptables-nft -t nat -X RESEAL_REDIRECT_IN',
      'iptables-nft -t nat -X RESEAL_REDIRECT_OUT',
    ]);
    assert.ok(!writes.some((line) => line.includes('KUBE-SOMETHING')), 'foreign rules are left alone');
    assert.deepEqual(writes.slice(11), ruleSet.ipv4.map((args) => ['iptables-nft', ...args].join(' ')));
    assert.equal(result.families.length, 1);
    assert.equal(result.families[0]?.applied.length, ruleSet.ipv4.length);
    assert.deepEqual(result.skipped, ['IPv6: disabled']);
    assert.ok(logged.includes("removed: iptables-nft -t nat -D OUTPUT -p tcp -m comment --comment 'older reseal' -j RESEAL_OUTPUT"));
    assert.ok(logged.includes('applied: iptables-nft -t nat -A OUTPUT -p tcp -j RESEAL_OUTPUT'));
  });

  test('programs ip6tables with the IPv6 rules when asked', async () => {
    const { run, calls } = scripted({});
    const ruleSet = buildCaptureRules({ mode: 'ingress' });
    await applyCaptureRules(ruleSet, { run, backend: NFT, ipv6: true });
    const v6 = calls.filter((line) => line.startsWith('ip6tables-nft') && !line.endsWith('-S'));
    assert.deepEqual(v6, ruleSet.ipv6.map((args) => ['ip6tables-nft', ...args].join(' ')));
  });

  test('the legacy backend waits for the xtables lock', async () => {
    const { run, calls } = scripted({});
    await applyCaptureRules(buildCaptureRules({}), { run, backend: { ...NFT, variant: 'legacy', binary: { 4: 'iptables-legacy', 6: 'ip6tables-legacy' } }, ipv6: false });
    assert.ok(calls.filter((line) => !line.endsWith('-t nat -S')).every((line) => line.startsWith('iptables-legacy -w 5 -t nat ')));
  });

  test('stops at the first refused command and names it', async () => {
    const { run, calls } = scripted({}, (line) =>
      line.includes('REDIRECT --to-ports 15001') ? { code: 2, stdout: '', stderr: "Couldn't load target `REDIRECT'" } : ok(),
    );
    await assert.rejects(applyCaptureRules(buildCaptureRules({}), { run, backend: NFT, ipv6: false }), (error: unknown) => {
      assert.ok(error instanceof CaptureCommandError);
      assert.equal(error.command, 'iptables-nft -t nat -A RESEAL_REDIRECT_OUT -p tcp -j REDIRECT --to-ports 15001');
      assert.equal(error.exitCode, 2);
      assert.match(error.message, /failed \(exit 2\): Couldn't load target/);
      return true;
    });
    assert.ok(!calls.some((line) => line.includes('-A OUTPUT')), 'no jump was added after the failure');
  });

  test('a listing that fails is an error too, not an empty table', async () => {
    const { run } = scripted({ 'iptables-nft -t nat -S': { code: 4, stdout: '', stderr: 'Permission denied' } });
    await assert.rejects(applyCaptureRules(buildCaptureRules({}), { run, backend: NFT, ipv6: false }), /iptables-nft -t nat -S failed \(exit 4\): Permission denied/);
  });

  test('removeCaptureRules only undoes', async () => {
    const { run, calls } = scripted({ 'iptables-nft -t nat -S': ok(previousRun) });
    const result = await removeCaptureRules({ run, backend: NFT, ipv6: false });
    assert.equal(result.families[0]?.applied.length, 0);
    assert.equal(result.families[0]?.removed.length, 11);
    assert.ok(!calls.some((line) => line.includes(' -A ') || line.includes(' -N ')));
  });
});

test('splitRuleLine keeps quoted comments together', () => {
  assert.deepEqual(splitRuleLine('-A OUTPUT -m comment --comment "a \\"b\\" c" -j X'), ['-A', 'OUTPUT', '-m', 'comment', '--comment', 'a "b" c', '-j', 'X']);
});
