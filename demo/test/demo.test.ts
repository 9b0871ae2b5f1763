// npm run demo end to end: a fixed-duration run that must pass, its status page in headless
// Chromium while it runs, Ctrl-C, a port in use, and a demo killed outright. All on a port
// block of its own (15400..15499, edge 15499) so a demo someone is running does not collide.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { describe as describePids, processesOf, REPO, runDemo, waitNoProcessesOf, type DemoRun } from './support/demo-run.js';

const BASE = 15400;
const EDGE = 15499;
const PORT_ARGS = ['--port-base', String(BASE), '--edge-port', String(EDGE)];
const CHROMIUM = process.env.RESEAL_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(REPO, 'demo', 'test', 'artifacts');

describe('npm run demo -- --duration 20', () => {
  let run: DemoRun;
  let browser: Browser | undefined;

  before(() => {
    run = runDemo(['--duration', '20', ...PORT_ARGS]);
  });
  after(async () => {
    await browser?.close();
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  });

  test('the status page draws the encrypted hops, certificate expiry and request rates (headless Chromium)', async () => {
    // CI installs Debian's chromium; a missing browser is a failure, not a skip.
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
    await run.waitFor(/\] \d+ ok \/ 0 failed/, 60_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`http://127.0.0.1:${BASE}/`);
    // The rates need two polls of the counters: wait for a mesh hop with a non-zero rate.
    await page.waitForFunction(
      () => [...document.querySelectorAll('#edges tr.edge-row[data-kind="mesh"][data-encrypted="true"] td.rate')].some((td) => /[1-9]/.test(td.textContent ?? '')),
      undefined,
      { timeout: 20_000 },
    );
    await page.waitForFunction(() => document.querySelector('#edges tr.edge-row[data-kind="edge-tls"][data-encrypted="true"] td.rate')?.textContent?.includes('req/s'), undefined, { timeout: 10_000 });

    const edges = await page.$$eval('svg#topology g.edge', (gs) => gs.map((g) => ({ kind: g.getAttribute('data-kind'), encrypted: g.getAttribute('data-encrypted'), mark: g.querySelector('.edge-mark')?.textContent, rate: g.querySelector('.edge-rate')?.textContent })));
    const mesh = edges.find((e) => e.kind === 'mesh');
    assert.equal(mesh?.encrypted, 'true', JSON.stringify(edges));
    assert.match(mesh?.mark ?? '', /mTLS/);
    assert.match(mesh?.rate ?? '', /[1-9].* conn\/s/);
    const edge = edges.find((e) => e.kind === 'edge-tls');
    assert.equal(edge?.encrypted, 'true');
    assert.match(edge?.rate ?? '', /[1-9].* req\/s/);
    const loopback = edges.filter((e) => e.kind === 'loopback');
    assert.equal(loopback.length, 2, 'app → sidecar in the gateway pod, sidecar → app in the web pod');
    assert.ok(loopback.every((e) => e.encrypted === 'false' && e.mark === 'loopback · plaintext'));
    assert.equal(edges.some((e) => e.kind === 'mesh' && e.encrypted !== 'true'), false, 'no plaintext between pods');

    const meshRow = await page.textContent('#edges tr.edge-row[data-kind="mesh"] td:nth-child(3)');
    assert.match(meshRow ?? '', /spiffe:\/\/cluster\.local\/ns\/edge\/sa\/gateway → spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web/);
    const expiries = await page.$$eval('#workloads tr.workload td.expiry', (tds) => tds.map((td) => td.textContent ?? ''));
    assert.equal(expiries.length, 2);
    for (const text of expiries) assert.match(text, /in \d+ s/);
    assert.ok((await page.$$('#issued tr.issued')).length >= 2, 'the certificates the control plane issued are listed');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    await browser.close();
    browser = undefined;
  });

  test('exits 0 with a summary proving every request crossed the mesh over mTLS, and leaves no process', async () => {
    const { code } = await run.exited;
    const out = run.stdout();
    assert.equal(code, 0, `${out}\n${run.stderr()}`);
    const client = /client\s+(\d+) requests, (\d+) answered by the app, 0 failed; edge TLS: TLSv1\.[23]/.exec(out);
    assert.ok(client && Number(client[1]) > 20 && client[1] === client[2], out);
    assert.match(out, new RegExp(`web-0\\s+inbound: ${client[1]} mTLS connections from spiffe://cluster.local/ns/edge/sa/gateway, 0 plaintext, 0 failed handshakes, 0 denied`));
    assert.match(out, new RegExp(`gateway-0\\s+outbound: ${client[1]} mTLS connections to spiffe://cluster.local/ns/shop/sa/web, 0 other`));
    assert.match(out, /The path of a request, hop by hop/);
    assert.match(out, /══mTLS══▶ web sidecar inbound/);
    assert.match(out, /status page\s+http:\/\/127\.0\.0\.1:15400\//);
    assert.match(out, /PASS: every request crossed the edge over TLS and the mesh over mutual TLS/);
    assert.deepEqual(processesOf(run.child.pid!, run.workDir()), []);
  });
});

test('Ctrl-C stops everything and exits 0; a second run on the same ports works', async () => {
  const run = runDemo(PORT_ARGS);
  try {
    await run.waitFor(/Sending \d+ requests\/s; Ctrl-C stops everything/, 60_000);
    await run.waitFor(/\] [1-9]\d* ok \/ 0 failed/, 20_000);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 0, run.stdout() + run.stderr());
    assert.match(run.stdout(), /Ctrl-C: stopping everything/);
    assert.match(run.stdout(), /Stopped: every process of the demo has exited/);
    assert.deepEqual(processesOf(run.child.pid!, run.workDir()), []);
  } finally {
    run.child.kill('SIGKILL');
  }
});

test('a port in use: a clear message, a non-zero exit, nothing started', async () => {
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(BASE + 12, '127.0.0.1', resolve));
  try {
    const run = runDemo(['--duration', '5', ...PORT_ARGS]);
    const { code } = await run.exited;
    assert.equal(code, 1);
    assert.match(run.stderr(), /port 15412 \(control plane \(identity \+ discovery gRPC\)\) is in use \(by another demo\?\); stop it or pass --port-base N/);
    assert.deepEqual(processesOf(run.child.pid!, run.workDir()), []);
  } finally {
    blocker.close();
  }
});

test('a demo killed outright (SIGKILL) takes its processes with it', async () => {
  const run = runDemo(PORT_ARGS);
  try {
    await run.waitFor(/✓ edge/, 60_000);
    const pid = run.child.pid!;
    const before = processesOf(pid, run.workDir());
    // control plane, app, two sidecars, the edge (nginx: master and worker)
    assert.ok(before.length >= 5, describePids(before));
    run.child.kill('SIGKILL');
    await run.exited;
    const left = await waitNoProcessesOf(pid, run.workDir(), 10_000);
    assert.deepEqual(left, [], describePids(left));
  } finally {
    run.child.kill('SIGKILL');
    // A killed demo cannot remove its directory.
    const dir = run.workDir();
    if (dir?.includes('reseal-demo-')) rmSync(dir, { recursive: true, force: true });
  }
});
