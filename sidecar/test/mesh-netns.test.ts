// The mesh between real pods: network namespaces on a bridge, real iptables from
// reseal-init, reseal-proxy running as UID 1337 beside each app, the control plane in
// standalone mode. Proves the acceptance of issue 3 end to end on one machine.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HUB_ADDRESS, createMeshLab, type MeshLab } from './support/mesh-lab.js';
import { readPcapTcp, reassemble, tlsRecordTypes } from '@reseal/test-cluster';

const SIDECAR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO = path.resolve(SIDECAR, '..');
const NODE = process.execPath;
const PROXY_UID = 1337;
const PODS = {
  client: { ip: '198.18.10.11', sa: 'client' },
  web: { ip: '198.18.10.12', sa: 'web' },
  intruder: { ip: '198.18.10.13', sa: 'intruder' },
  plain: { ip: '198.18.10.14', sa: 'plain' },
} as const;
type PodName = keyof typeof PODS;
const MESHED: PodName[] = ['client', 'web', 'intruder'];
const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/client';

let lab: MeshLab;
let dir: string;
const logs = new Map<string, string[]>();
const proxies = new Map<PodName, ChildProcess>();

function collect(name: string, child: ChildProcess): void {
  const lines: string[] = [];
  logs.set(name, lines);
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', (line) => lines.push(line));
  }
}

async function waitForLine(name: string, match: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = logs.get(name)?.find(match);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting in ${name}'s output; last lines:\n${(logs.get(name) ?? []).slice(-15).join('\n')}`);
}

function topology(options: { mtlsMode: 'STRICT' | 'PERMISSIVE'; restrictToClient: boolean }): string {
  return JSON.stringify({
    namespaces: [{ name: 'shop', mtlsMode: options.mtlsMode }],
    pods: (Object.keys(PODS) as PodName[]).map((name) => ({
      namespace: 'shop',
      name,
      ip: PODS[name].ip,
      serviceAccount: PODS[name].sa,
      meshed: MESHED.includes(name),
      labels: { app: name },
    })),
    accessPolicies: options.restrictToClient
      ? [{ namespace: 'shop', name: 'web-from-client', podSelector: { matchLabels: { app: 'web' } }, ports: [8080], allowedIdentities: [CLIENT_ID] }]
      : [],
  });
}

function startProxy(pod: PodName): ChildProcess {
  const child = lab.spawn(lab.ns(pod), NODE, [path.join(SIDECAR, 'bin', 'reseal-proxy.js')], {
    uid: PROXY_UID,
    env: {
      PATH: process.env.PATH,
      POD_NAMESPACE: 'shop',
      POD_NAME: pod,
      POD_IP: PODS[pod].ip,
      SERVICE_ACCOUNT: PODS[pod].sa,
      RESEAL_CONTROL_PLANE_ADDRESS: `${HUB_ADDRESS}:15012`,
      RESEAL_TOKEN_FILE: path.join(dir, 'tokens', pod),
      RESEAL_TRUST_BUNDLE_FILE: path.join(dir, 'bundle', 'ca-bundle.pem'),
      RESEAL_CERT_TTL_SECONDS: '60',
      // Rotate every ~3 s so that a test of a few seconds sees several rotations.
      RESEAL_RENEW_FRACTION: '0.05',
      RESEAL_DRAIN_SECONDS: '1',
      LOG_LEVEL: 'info',
    },
  });
  collect(`proxy-${pod}-${child.pid}`, child);
  proxies.set(pod, child);
  return child;
}

async function waitReady(pod: PodName, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (lab.run(lab.ns(pod), 'curl', ['-sf', '-o', '/dev/null', 'http://127.0.0.1:15020/ready'], { allowFailure: true }).code === 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const name = `proxy-${pod}-${proxies.get(pod)?.pid}`;
  throw new Error(`proxy of ${pod} not ready; its log:\n${(logs.get(name) ?? []).slice(-20).join('\n')}`);
}

interface Outcome {
  ok: boolean;
  status?: number;
  body?: string;
  error?: string;
}

/** Runs the HTTP client inside a pod as root (so iptables captures it, as for any app). */
async function request(from: PodName, url: string, count = 1, rate = 10, retryMs = 0): Promise<Outcome[]> {
  const child = lab.spawn(lab.ns(from), NODE, ['--import', 'tsx', path.join(SIDECAR, 'test', 'support', 'mesh-http-client.ts'), url, String(count), String(rate), String(retryMs)]);
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`client in ${from} exited ${code}: ${err}`);
  return (JSON.parse(out.trim().split('\n').pop()!) as { outcomes: Outcome[] }).outcomes;
}

function appSaw(marker: string): boolean {
  return (logs.get('app-web') ?? []).some((line) => line.includes(marker));
}

before(async () => {
  lab = createMeshLab();
  dir = mkdtempSync(path.join(tmpdir(), 'reseal-mesh-'));
  chmodSync(dir, 0o755);
  for (const name of Object.keys(PODS) as PodName[]) lab.addPod(name, PODS[name].ip);

  mkdirSync(path.join(dir, 'tokens'), { mode: 0o755 });
  const tokens = MESHED.map((pod) => ({ token: `${pod}-bootstrap-token-${process.pid}-0123456789`, namespace: 'shop', serviceAccount: PODS[pod].sa }));
  for (const [i, pod] of MESHED.entries()) writeFileSync(path.join(dir, 'tokens', pod), tokens[i]!.token, { mode: 0o644 });
  writeFileSync(path.join(dir, 'tokens.json'), JSON.stringify({ tokens }));
  writeFileSync(path.join(dir, 'topology.json'), topology({ mtlsMode: 'STRICT', restrictToClient: true }));

  const controlPlane = lab.spawn(lab.hub, NODE, [path.join(REPO, 'control-plane', 'bin', 'reseal-control-plane.js')], {
    env: {
      PATH: process.env.PATH,
      RESEAL_STANDALONE_TOKENS: path.join(dir, 'tokens.json'),
      RESEAL_STANDALONE_TOPOLOGY: path.join(dir, 'topology.json'),
      RESEAL_STANDALONE_CA_DIR: path.join(dir, 'ca'),
      RESEAL_LISTEN_HOST: HUB_ADDRESS,
      LOG_LEVEL: 'info',
    },
  });
  collect('control-plane', controlPlane);
  await waitForLine('control-plane', (line) => line.includes('control_plane_started'));
  // What kubelet does with the reseal-trust-bundle ConfigMap: a world-readable file.
  mkdirSync(path.join(dir, 'bundle'), { mode: 0o755 });
  copyFileSync(path.join(dir, 'ca', 'ca.crt'), path.join(dir, 'bundle', 'ca-bundle.pem'));
  chmodSync(path.join(dir, 'bundle', 'ca-bundle.pem'), 0o644);

  for (const pod of MESHED) lab.run(lab.ns(pod), NODE, [path.join(SIDECAR, 'bin', 'reseal-init.js')]);
  const app = lab.spawn(lab.ns('web'), NODE, ['--import', 'tsx', path.join(SIDECAR, 'test', 'support', 'mesh-echo-app.ts'), '8080']);
  collect('app-web', app);
  await waitForLine('app-web', (line) => line.includes('listening'));
  for (const pod of MESHED) startProxy(pod);
  for (const pod of MESHED) await waitReady(pod);
});

after(() => {
  lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a plain request from the client pod reaches the server app, and only TLS records cross the link', async () => {
  const marker = `marker-${process.pid}-${Date.now()}`;
  const pcap = path.join(dir, 'web.pcap');
  const capture = lab.spawn(lab.hub, 'tcpdump', ['-i', lab.hubLink('web'), '--immediate-mode', '-U', '-n', '-s', '0', '-w', pcap, 'tcp port 8080']);
  collect('tcpdump', capture);
  await waitForLine('tcpdump', (line) => line.includes('listening on'));

  const [outcome] = await request('client', `http://${PODS.web.ip}:8080/hello?${marker}`);
  assert.ok(outcome?.ok, `request failed: ${JSON.stringify(outcome)}`);
  assert.ok(outcome.body?.includes(marker), 'the answer is the app’s');
  assert.ok(appSaw(marker), 'the app saw the request');

  await new Promise((r) => setTimeout(r, 500));
  capture.kill('SIGINT');
  await new Promise((resolve) => capture.once('exit', resolve));
  const bytes = readFileSync(pcap);
  assert.equal(bytes.indexOf(Buffer.from(marker)), -1, 'the marker never crossed the link in plaintext');
  const segments = readPcapTcp(bytes);
  if (process.env.RESEAL_TEST_KEEP_PCAP) copyFileSync(pcap, process.env.RESEAL_TEST_KEEP_PCAP);
  const toServer = reassemble(segments.filter((s) => s.src === PODS.client.ip && s.dstPort === 8080));
  const toClient = reassemble(segments.filter((s) => s.dst === PODS.client.ip && s.srcPort === 8080));
  assert.ok(toServer.length > 0 && toClient.length > 0, 'the capture holds the connection');
  const clientRecords = tlsRecordTypes(toServer);
  const serverRecords = tlsRecordTypes(toClient);
  assert.equal(clientRecords[0], 0x16, 'the client starts with a TLS handshake');
  assert.ok(clientRecords.includes(0x17) && serverRecords.includes(0x17), 'application data travels in TLS records');
});

test('the server side knows the client by its SPIFFE ID', async () => {
  const line = await waitForLine(`proxy-web-${proxies.get('web')?.pid}`, (l) => l.includes('inbound connection') && l.includes(CLIENT_ID));
  assert.match(line, /"tls":"mtls"/);
});

test('a meshed pod whose identity the AccessPolicy does not allow is refused before the app', async () => {
  const marker = `intruder-${Date.now()}`;
  const [outcome] = await request('intruder', `http://${PODS.web.ip}:8080/${marker}`);
  assert.equal(outcome?.ok, false, 'refused');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(appSaw(marker), false, 'the app never saw it');
});

test('a plaintext client is refused in STRICT and served in PERMISSIVE', async () => {
  const strictMarker = `plain-strict-${Date.now()}`;
  const [refused] = await request('plain', `http://${PODS.web.ip}:8080/${strictMarker}`);
  assert.equal(refused?.ok, false);
  assert.equal(appSaw(strictMarker), false);

  writeFileSync(path.join(dir, 'topology.json'), topology({ mtlsMode: 'PERMISSIVE', restrictToClient: false }));
  const permissiveMarker = `plain-permissive-${Date.now()}`;
  // The topology is re-read and pushed through discovery within a few seconds.
  const [served] = await request('plain', `http://${PODS.web.ip}:8080/${permissiveMarker}`, 1, 1, 15_000);
  assert.ok(served?.ok, `served in PERMISSIVE: ${JSON.stringify(served)}`);
  assert.ok(appSaw(permissiveMarker));

  writeFileSync(path.join(dir, 'topology.json'), topology({ mtlsMode: 'STRICT', restrictToClient: true }));
  const backMarker = `plain-strict-again-${Date.now()}`;
  const deadline = Date.now() + 15_000;
  let last: Outcome | undefined;
  do {
    [last] = await request('plain', `http://${PODS.web.ip}:8080/${backMarker}-${Date.now()}`);
  } while (last?.ok && Date.now() < deadline);
  assert.equal(last?.ok, false, 'STRICT again refuses plaintext');
});

test('certificates rotating every few seconds under steady load lose no request', async () => {
  const serialsBefore = lab.run(lab.ns('web'), 'curl', ['-sf', 'http://127.0.0.1:15020/debug/identity']).stdout;
  const outcomes = await request('client', `http://${PODS.web.ip}:8080/steady`, 200, 20);
  const failed = outcomes.filter((o) => !o.ok);
  assert.equal(failed.length, 0, `failed requests: ${JSON.stringify(failed.slice(0, 3))}`);
  const metrics = lab.run(lab.ns('client'), 'curl', ['-sf', 'http://127.0.0.1:15020/metrics']).stdout;
  const renewals = Number(/^reseal_identity_renewals_total\{result="success"\} (\d+)/m.exec(metrics)?.[1]);
  assert.ok(renewals >= 3, `the client rotated at least 3 times during the test (renewals: ${renewals})`);
  const serialsAfter = lab.run(lab.ns('web'), 'curl', ['-sf', 'http://127.0.0.1:15020/debug/identity']).stdout;
  assert.notEqual(JSON.parse(serialsAfter).certificate.serial, JSON.parse(serialsBefore).certificate.serial, 'the server rotated too');
});

test('a restarted server proxy is survived by a retrying client', async () => {
  const old = proxies.get('web')!;
  old.kill('SIGKILL');
  await new Promise((resolve) => old.once('exit', resolve));
  const restarted = request('client', `http://${PODS.web.ip}:8080/after-restart`, 1, 1, 30_000);
  await new Promise((r) => setTimeout(r, 500));
  startProxy('web');
  const [outcome] = await restarted;
  assert.ok(outcome?.ok, `served after the restart: ${JSON.stringify(outcome)}`);
  await waitReady('web');
});
