import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { CaptureOptionsError, parseCidr } from '../src/capture/capture-options.js';
import type { CaptureOptions } from '../src/capture/capture-options.js';
import { buildCaptureRules, formatCommand } from '../src/capture/capture-rules.js';
import type { IptablesArgs } from '../src/capture/capture-rules.js';

const asText = (rules: IptablesArgs[]): string[] => rules.map((args) => args.join(' '));

describe('buildCaptureRules', () => {
  test('default options: full capture with the ARCHITECTURE.md ports', () => {
    assert.deepEqual(asText(buildCaptureRules({}).ipv4), [
      '-t nat -N RESEAL_INBOUND',
      '-t nat -N RESEAL_REDIRECT_IN',
      '-t nat -N RESEAL_OUTPUT',
      '-t nat -N RESEAL_REDIRECT_OUT',
      '-t nat -A RESEAL_REDIRECT_IN -p tcp -j REDIRECT --to-ports 15006',
      '-t nat -A RESEAL_INBOUND -p tcp --dport 15020 -j RETURN',
      '-t nat -A RESEAL_INBOUND -p tcp -j RESEAL_REDIRECT_IN',
      '-t nat -A RESEAL_REDIRECT_OUT -p tcp -j REDIRECT --to-ports 15001',
      '-t nat -A RESEAL_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-t nat -A RESEAL_OUTPUT -o lo -j RETURN',
      '-t nat -A RESEAL_OUTPUT -d 127.0.0.1/32 -j RETURN',
      '-t nat -A RESEAL_OUTPUT -p tcp -j RESEAL_REDIRECT_OUT',
      '-t nat -A PREROUTING -p tcp -j RESEAL_INBOUND',
      '-t nat -A OUTPUT -p tcp -j RESEAL_OUTPUT',
    ]);
  });

  test('IPv6 has the same shape with ::1 as loopback', () => {
    const { ipv4, ipv6 } = buildCaptureRules({});
    assert.deepEqual(
      asText(ipv6),
      asText(ipv4).map((line) => line.replace('127.0.0.1/32', '::1/128')),
    );
  });

  test('ingress mode captures outbound only', () => {
    const rules = asText(buildCaptureRules({ mode: 'ingress' }).ipv4);
    assert.ok(rules.every((line) => !/RESEAL_INBOUND|RESEAL_REDIRECT_IN|PREROUTING/.test(line)), rules.join('\n'));
    assert.ok(rules.includes('-t nat -A OUTPUT -p tcp -j RESEAL_OUTPUT'));
    assert.ok(rules.includes('-t nat -A RESEAL_REDIRECT_OUT -p tcp -j REDIRECT --to-ports 15001'));
  });

  test('skipped ports and CIDRs become RETURN rules before the redirect, each CIDR in its own family', () => {
    const { ipv4, ipv6 } = buildCaptureRules({
      proxyUid: 2000,
      inboundPort: 16006,
      outboundPort: 16001,
      adminPort: 16020,
      skipInboundPorts: [22, 80, 22],
      skipOutboundPorts: [5432],
      skipOutboundCidrs: ['198.18.0.0/15', '198.19.7.0/24', '2001:db8::/32'],
    });
    const v4 = asText(ipv4);
    assert.deepEqual(
      v4.filter((line) => line.includes('-A RESEAL_INBOUND')),
      [
        '-t nat -A RESEAL_INBOUND -p tcp --dport 16020 -j RETURN',
        '-t nat -A RESEAL_INBOUND -p tcp --dport 22 -j RETURN',
        '-t nat -A RESEAL_INBOUND -p tcp --dport 80 -j RETURN',
        '-t nat -A RESEAL_INBOUND -p tcp -j RESEAL_REDIRECT_IN',
      ],
    );
    assert.deepEqual(
      v4.filter((line) => line.includes('-A RESEAL_OUTPUT')),
      [
        '-t nat -A RESEAL_OUTPUT -m owner --uid-owner 2000 -j RETURN',
        '-t nat -A RESEAL_OUTPUT -o lo -j RETURN',
        '-t nat -A RESEAL_OUTPUT -d 127.0.0.1/32 -j RETURN',
        '-t nat -A RESEAL_OUTPUT -p tcp --dport 5432 -j RETURN',
        '-t nat -A RESEAL_OUTPUT -d 198.18.0.0/15 -j RETURN',
        '-t nat -A RESEAL_OUTPUT -d 198.19.7.0/24 -j RETURN',
        '-t nat -A RESEAL_OUTPUT -p tcp -j RESEAL_REDIRECT_OUT',
      ],
    );
    assert.ok(v4.includes('-t nat -A RESEAL_REDIRECT_IN -p tcp -j REDIRECT --to-ports 16006'));
    assert.ok(v4.includes('-t nat -A RESEAL_REDIRECT_OUT -p tcp -j REDIRECT --to-ports 16001'));
    const v6 = asText(ipv6);
    assert.ok(v6.includes('-t nat -A RESEAL_OUTPUT -d 2001:db8::/32 -j RETURN'));
    assert.ok(!v6.some((line) => line.includes('198.')));
    assert.ok(!v4.some((line) => line.includes('2001:db8')));
  });

  test('jumps from built-in chains come last, after the chains they target are filled', () => {
    const rules = asText(buildCaptureRules({}).ipv4);
    const firstJump = rules.findIndex((line) => /-A (PREROUTING|OUTPUT) /.test(line));
    assert.equal(firstJump, rules.length - 2);
  });

  test('formatCommand quotes only what a shell would misread', () => {
    assert.equal(formatCommand('iptables', ['-t', 'nat', '-A', 'X', '-d', '198.18.0.0/15']), 'iptables -t nat -A X -d 198.18.0.0/15');
    assert.equal(formatCommand('iptables', ['--comment', "it's here"]), `iptables --comment 'it'\\''s here'`);
  });
});

describe('capture option validation', () => {
  const rejects = (partial: Partial<CaptureOptions>, pattern: RegExp): void => {
    assert.throws(() => buildCaptureRules(partial), (error: unknown) => {
      assert.ok(error instanceof CaptureOptionsError, String(error));
      assert.match(error.message, pattern);
      return true;
    });
  };

  test('bad ports are rejected, naming the option', () => {
    rejects({ inboundPort: 0 }, /^inboundPort: 0 is not a TCP port/);
    rejects({ outboundPort: 65536 }, /^outboundPort: 65536/);
    rejects({ adminPort: 15020.5 }, /^adminPort: 15020.5/);
    rejects({ skipInboundPorts: [22, -1] }, /^skipInboundPorts: -1/);
    rejects({ skipOutboundPorts: [Number.NaN] }, /^skipOutboundPorts: NaN/);
    rejects({ inboundPort: 15001 }, /must differ/);
  });

  test('a bad proxy UID or mode is rejected', () => {
    rejects({ proxyUid: 0 }, /root/);
    rejects({ proxyUid: -5 }, /^proxyUid: -5 is not a UID/);
    rejects({ mode: 'sideways' as 'full' }, /^mode: "sideways"/);
  });

  test('bad CIDRs are rejected', () => {
    rejects({ skipOutboundCidrs: ['198.18.0.1'] }, /^skipOutboundCidrs: CIDR "198.18.0.1": expected ADDRESS\/PREFIX/);
    rejects({ skipOutboundCidrs: ['198.18.0.0/33'] }, /at most 32/);
    rejects({ skipOutboundCidrs: ['300.18.0.0/16'] }, /not an IPv4 or IPv6 address/);
    rejects({ skipOutboundCidrs: ['198.18.1.0/15'] }, /host bits are set below \/15/);
    rejects({ skipOutboundCidrs: ['010.0.0.0/8'] }, /not an IPv4 or IPv6 address/);
    rejects({ skipOutboundCidrs: ['2001:db8::1/32'] }, /host bits/);
    rejects({ skipOutboundCidrs: ['::/129'] }, /at most 128/);
    rejects({ skipOutboundCidrs: ['example.com/8'] }, /not an IPv4 or IPv6 address/);
    rejects({ skipOutboundCidrs: [''] }, /expected ADDRESS\/PREFIX/);
  });

  test('good CIDRs parse to their family', () => {
    assert.deepEqual(parseCidr('0.0.0.0/0'), { family: 4, cidr: '0.0.0.0/0' });
    assert.deepEqual(parseCidr('198.18.0.0/15'), { family: 4, cidr: '198.18.0.0/15' });
    assert.deepEqual(parseCidr('198.18.4.5/32'), { family: 4, cidr: '198.18.4.5/32' });
    assert.deepEqual(parseCidr('2001:DB8::/32'), { family: 6, cidr: '2001:db8::/32' });
    assert.deepEqual(parseCidr('::ffff:198.18.0.0/111'), { family: 6, cidr: '::ffff:198.18.0.0/111' });
  });
});
