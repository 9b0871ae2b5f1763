// reseal-init and SO_ORIGINAL_DST against the real kernel: a "pod" namespace captured
// by the CLI, a "peer" namespace on the other end of a veth. Needs root (CI is root).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  PEER_ADDRESS,
  PEER_FAR_ADDRESS,
  PEER_FAR_CIDR,
  POD_ADDRESS,
  PROBE_SCRIPT,
  SIDECAR_DIR,
  collectProbeOutput,
  createNetnsLab,
  execAsync,
  tsNode,
} from './support/netns-lab.js';
import type { NetnsLab, ProbeEvent, ProbeOutput } from './support/netns-lab.js';

const INIT_MAIN = path.join(SIDECAR_DIR, 'src', 'capture', 'reseal-init-main.ts');
const SKIPPED_INBOUND_PORT = 2222;
const SKIPPED_OUTBOUND_PORT = 9090;
const CAPTURE_FLAGS = [
  '--proxy-uid', '1337',
  '--inbound-port', '15006',
  '--outbound-port', '15001',
  '--mode', 'full',
  '--skip-inbound-ports', String(SKIPPED_INBOUND_PORT),
  '--skip-outbound-ports', String(SKIPPED_OUTBOUND_PORT),
  '--skip-outbound-cidrs', PEER_FAR_CIDR,
];

let lab: NetnsLab;

function runInit(ns: string, flags: readonly string[]) {
  const [node, args] = tsNode(INIT_MAIN, flags);
  return lab.exec(ns, node, args, { allowFailure: true });
}

function backendOf(initStdout: string): string {
  const match = /backend: (\S+)/.exec(initStdout);
  assert.ok(match?.[1], `reseal-init named no backend:\n${initStdout}`);
  return match[1];
}

/** The nat table as iptables-save prints it, minus timestamps and packet counters. */
function natRules(ns: string, saveBinary: string): string {
  return lab
    .exec(ns, saveBinary, ['-t', 'nat'])
    .stdout.split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]$/, '[0:0]'))
    .join('\n');
}

function saveBinaryFor(iptablesBinary: string, family: 4 | 6): string {
  const v6 = family === 6 ? iptablesBinary.replace(/^iptables/, 'ip6tables') : iptablesBinary;
  return `${v6}-save`;
}

describe('capture in a pod network namespace', () => {
  let backend = '';

  before(() => {
    lab = createNetnsLab();
  });

  after(() => {
    lab?.destroy();
  });

  test('reseal-init installs the nat rules', () => {
    const result = runInit(lab.pod, CAPTURE_FLAGS);
    assert.equal(result.code, 0, result.stderr);
    backend = backendOf(result.stdout);
    assert.match(result.stdout, /applied: \S*iptables\S* -t nat -A RESEAL_OUTPUT -m owner --uid-owner 1337 -j RETURN/);

    const rules = natRules(lab.pod, saveBinaryFor(backend, 4));
    for (const expected of [
      ':RESEAL_INBOUND - [0:0]',
      ':RESEAL_REDIRECT_IN - [0:0]',
      ':RESEAL_OUTPUT - [0:0]',
      ':RESEAL_REDIRECT_OUT - [0:0]',
      '-A PREROUTING -p tcp -j RESEAL_INBOUND',
      '-A OUTPUT -p tcp -j RESEAL_OUTPUT',
      '-A RESEAL_INBOUND -p tcp -m tcp --dport 15020 -j RETURN',
      `-A RESEAL_INBOUND -p tcp -m tcp --dport ${SKIPPED_INBOUND_PORT} -j RETURN`,
      '-A RESEAL_INBOUND -p tcp -j RESEAL_REDIRECT_IN',
      '-A RESEAL_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-A RESEAL_OUTPUT -o lo -j RETURN',
      '-A RESEAL_OUTPUT -d 127.0.0.1/32 -j RETURN',
      `-A RESEAL_OUTPUT -p tcp -m tcp --dport ${SKIPPED_OUTBOUND_PORT} -j RETURN`,
      `-A RESEAL_OUTPUT -d ${PEER_FAR_CIDR} -j RETURN`,
      '-A RESEAL_OUTPUT -p tcp -j RESEAL_REDIRECT_OUT',
      '-A RESEAL_REDIRECT_IN -p tcp -j REDIRECT --to-ports 15006',
      '-A RESEAL_REDIRECT_OUT -p tcp -j REDIRECT --to-ports 15001',
    ]) {
      assert.ok(rules.split('\n').includes(expected), `missing "${expected}" in:\n${rules}`);
    }

    const v6 = natRules(lab.pod, saveBinaryFor(backend, 6));
    assert.ok(v6.split('\n').includes('-A RESEAL_OUTPUT -d ::1/128 -j RETURN'), `ip6tables rules:\n${v6}`);
    assert.ok(v6.split('\n').includes('-A OUTPUT -p tcp -j RESEAL_OUTPUT'), `ip6tables rules:\n${v6}`);
  });

  test('running reseal-init again leaves the identical ruleset', () => {
    const before4 = natRules(lab.pod, saveBinaryFor(backend, 4));
    const before6 = natRules(lab.pod, saveBinaryFor(backend, 6));
    const again = runInit(lab.pod, CAPTURE_FLAGS);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(backendOf(again.stdout), backend, 'the second run must pick the backend holding the rules');
    assert.match(again.stdout, /removed: \S+ -t nat -D OUTPUT -p tcp -j RESEAL_OUTPUT/);
    assert.equal(natRules(lab.pod, saveBinaryFor(backend, 4)), before4);
    assert.equal(natRules(lab.pod, saveBinaryFor(backend, 6)), before6);
    assert.equal(before4.match(/-j RESEAL_OUTPUT$/gm)?.length, 1, 'exactly one jump from OUTPUT');
  });

  test('switching to ingress mode drops the inbound capture, and back restores it', () => {
    const ingress = runInit(lab.pod, [...CAPTURE_FLAGS.slice(0, 6), '--mode', 'ingress']);
    assert.equal(ingress.code, 0, ingress.stderr);
    const rules = natRules(lab.pod, saveBinaryFor(backend, 4));
    assert.doesNotMatch(rules, /RESEAL_INBOUND|RESEAL_REDIRECT_IN|PREROUTING -p tcp/);
    assert.match(rules, /-A OUTPUT -p tcp -j RESEAL_OUTPUT/);

    const full = runInit(lab.pod, CAPTURE_FLAGS);
    assert.equal(full.code, 0, full.stderr);
    assert.match(natRules(lab.pod, saveBinaryFor(backend, 4)), /-A PREROUTING -p tcp -j RESEAL_INBOUND/);
  });

  describe('traffic', () => {
    let podListeners: ChildProcess;
    let peerListeners: ChildProcess;
    let podEvents: ProbeOutput;
    let peerEvents: ProbeOutput;
    let nextId = 0;

    before(async () => {
      const [node, podArgs] = tsNode(PROBE_SCRIPT, [
        'listen', 'pod',
        // 15001 on "::" exercises the v4-mapped path of the addon (dual-stack listener).
        ':::15001', '0.0.0.0:15006', '0.0.0.0:15020', `0.0.0.0:${SKIPPED_INBOUND_PORT}`,
      ]);
      podListeners = lab.start(lab.pod, node, podArgs);
      podEvents = collectProbeOutput(podListeners);
      const [, peerArgs] = tsNode(PROBE_SCRIPT, [
        'listen', 'peer', '0.0.0.0:8080', `0.0.0.0:${SKIPPED_OUTBOUND_PORT}`,
      ]);
      peerListeners = lab.start(lab.peer, node, peerArgs);
      peerEvents = collectProbeOutput(peerListeners);
      await podEvents.waitFor((event) => event.event === 'listening');
      await peerEvents.waitFor((event) => event.event === 'listening');
    });

    /** Connects from `ns`, returns the reply ("name:port" of the listener) and what that listener saw. */
    async function connect(ns: string, host: string, port: number, uid?: number) {
      const id = `c${(nextId += 1)}`;
      const [node, args] = tsNode(PROBE_SCRIPT, ['connect', host, String(port), id, ...(uid === undefined ? [] : ['--uid', String(uid)])]);
      const result = await execAsync(ns, node, args);
      const events = result.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as ProbeEvent);
      const reply = events.find((event) => event.event === 'reply');
      assert.ok(reply, `client got no reply (exit ${result.code}): ${result.stdout} ${result.stderr}`);
      const listenerSide = String(reply.reply).startsWith('pod:') ? podEvents : peerEvents;
      const accepted = await listenerSide.waitFor((event) => event.event === 'accepted' && event.id === id);
      return { reply: String(reply.reply), accepted, clientUid: reply.uid };
    }

    test('an app connection (UID 0) to the peer is redirected to :15001 with the original destination', async () => {
      const { reply, accepted, clientUid } = await connect(lab.pod, PEER_ADDRESS, 8080);
      assert.equal(clientUid, 0);
      assert.equal(reply, 'pod:15001');
      assert.deepEqual(accepted.original, { address: PEER_ADDRESS, port: 8080, family: 4 });
      assert.deepEqual(accepted.raw, { address: PEER_ADDRESS, port: 8080, family: 4 });
      assert.equal((accepted.local as { family: string }).family, 'IPv6', 'accepted on the dual-stack listener');
    });

    test('the proxy UID 1337 reaches the peer directly', async () => {
      const { reply, accepted, clientUid } = await connect(lab.pod, PEER_ADDRESS, 8080, 1337);
      assert.equal(clientUid, 1337);
      assert.equal(reply, 'peer:8080');
      // The peer namespace has no nat rules, hence no conntrack entry: the raw addon
      // call fails with ENOENT and a message that says why, the wrapper with its own error.
      const rawError = accepted.rawError as { code: string; message: string };
      assert.equal(rawError.code, 'ENOENT');
      assert.match(rawError.message, /getsockopt\(SOL_IP, SO_ORIGINAL_DST\) failed: No such file or directory .*not redirected/);
      const wrapped = accepted.originalError as { code: string; name: string };
      assert.equal(wrapped.code, 'ERR_NOT_REDIRECTED');
      assert.equal(wrapped.name, 'NotRedirectedError');
    });

    test('a skipped outbound port and a skipped CIDR are not redirected', async () => {
      assert.equal((await connect(lab.pod, PEER_ADDRESS, SKIPPED_OUTBOUND_PORT)).reply, `peer:${SKIPPED_OUTBOUND_PORT}`);
      assert.equal((await connect(lab.pod, PEER_FAR_ADDRESS, 8080)).reply, 'peer:8080');
    });

    test('loopback traffic inside the pod is not redirected', async () => {
      const { reply, accepted } = await connect(lab.pod, '127.0.0.1', 15020);
      assert.equal(reply, 'pod:15020');
      // The pod's nat table is active, so conntrack answers with the listener itself;
      // the wrapper turns that into an error instead of a proxy loop.
      assert.deepEqual(accepted.raw, { address: '127.0.0.1', port: 15020, family: 4 });
      assert.equal((accepted.originalError as { code: string }).code, 'ERR_NOT_REDIRECTED');
    });

    test('inbound from the peer to an app port lands on :15006 with the original destination', async () => {
      const { reply, accepted } = await connect(lab.peer, POD_ADDRESS, 8080);
      assert.equal(reply, 'pod:15006');
      assert.deepEqual(accepted.original, { address: POD_ADDRESS, port: 8080, family: 4 });
      assert.equal((accepted.remote as { address: string }).address, PEER_ADDRESS);
    });

    test('inbound to the admin port 15020 and to a skipped port is not redirected', async () => {
      const admin = await connect(lab.peer, POD_ADDRESS, 15020);
      assert.equal(admin.reply, 'pod:15020');
      assert.equal((admin.accepted.originalError as { code: string }).code, 'ERR_NOT_REDIRECTED');
      assert.match(String((admin.accepted.originalError as { message: string }).message), /198\.18\.0\.1:15020 was not redirected/);

      const skipped = await connect(lab.peer, POD_ADDRESS, SKIPPED_INBOUND_PORT);
      assert.equal(skipped.reply, `pod:${SKIPPED_INBOUND_PORT}`);
    });
  });

  test('reseal-init fails loudly, naming the command, when the kernel refuses', () => {
    // Root without CAP_NET_ADMIN: every netfilter change is refused with EPERM.
    const [node, args] = tsNode(INIT_MAIN, CAPTURE_FLAGS);
    const result = lab.exec(lab.pod, 'setpriv', ['--bounding-set=-net_admin', '--inh-caps=-net_admin', node, ...args], {
      allowFailure: true,
    });
    assert.equal(result.code, 1, `expected exit 1, got ${result.code}: ${result.stdout}`);
    assert.match(result.stderr, /^reseal-init: /);
    assert.match(result.stderr, /iptables\S* -t nat -S/);
    assert.match(result.stderr, /(Permission denied|Operation not permitted)/);
  });

  test('reseal-init fails loudly when the kernel refuses to delete a chain still in use', () => {
    assert.equal(runInit(lab.pod, CAPTURE_FLAGS).code, 0);
    // A chain reseal-init does not own jumping into one it does: the kernel keeps the
    // target (EBUSY), and reseal-init must stop rather than carry on half-configured.
    lab.exec(lab.pod, backend, ['-t', 'nat', '-N', 'OTHER_TOOL']);
    lab.exec(lab.pod, backend, ['-t', 'nat', '-A', 'OTHER_TOOL', '-j', 'RESEAL_INBOUND']);
    try {
      const result = runInit(lab.pod, CAPTURE_FLAGS);
      assert.equal(result.code, 1, `expected exit 1, got ${result.code}: ${result.stdout}`);
      assert.match(result.stderr, new RegExp(`^reseal-init: ${backend} -t nat -X RESEAL_INBOUND failed \\(exit \\d+\\): .+`, 'm'));
    } finally {
      lab.exec(lab.pod, backend, ['-t', 'nat', '-F', 'OTHER_TOOL']);
      lab.exec(lab.pod, backend, ['-t', 'nat', '-X', 'OTHER_TOOL']);
    }
    assert.equal(runInit(lab.pod, CAPTURE_FLAGS).code, 0, 'a later run recovers');
  });

  test('reseal-init --cleanup removes its chains and jumps, and nothing else', () => {
    lab.exec(lab.pod, backend, ['-t', 'nat', '-A', 'POSTROUTING', '-d', PEER_FAR_CIDR, '-j', 'ACCEPT']);
    const result = runInit(lab.pod, ['--cleanup']);
    assert.equal(result.code, 0, result.stderr);
    const rules = natRules(lab.pod, saveBinaryFor(backend, 4));
    assert.doesNotMatch(rules, /RESEAL_/);
    assert.match(rules, new RegExp(`-A POSTROUTING -d ${PEER_FAR_CIDR.replaceAll('.', '\\.')} -j ACCEPT`));
    assert.doesNotMatch(natRules(lab.pod, saveBinaryFor(backend, 6)), /RESEAL_/);
  });

  test('a namespace that already has iptables-legacy rules gets legacy rules', () => {
    // The peer has no capture; give it a legacy rule, as a node using legacy kube-proxy would.
    lab.exec(lab.peer, 'iptables-legacy', ['-t', 'nat', '-A', 'POSTROUTING', '-d', PEER_FAR_CIDR, '-j', 'ACCEPT']);
    const result = runInit(lab.peer, ['--mode', 'ingress']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(backendOf(result.stdout), 'iptables-legacy');
    assert.match(result.stdout, /iptables-legacy-save shows existing rules/);
    assert.match(natRules(lab.peer, 'iptables-legacy-save'), /-A OUTPUT -p tcp -j RESEAL_OUTPUT/);
    assert.doesNotMatch(natRules(lab.peer, 'iptables-nft-save'), /RESEAL_/);
    assert.match(natRules(lab.peer, 'ip6tables-legacy-save'), /-A OUTPUT -p tcp -j RESEAL_OUTPUT/);

    const again = runInit(lab.peer, ['--mode', 'ingress']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(natRules(lab.peer, 'iptables-legacy-save').match(/-j RESEAL_OUTPUT$/gm)?.length, 1);
    assert.equal(runInit(lab.peer, ['--cleanup']).code, 0);
    assert.doesNotMatch(natRules(lab.peer, 'iptables-legacy-save'), /RESEAL_/);
  });
});
