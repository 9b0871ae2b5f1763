// The real reseal-proxy binary in explicit mode (no root, no iptables) against a real
// control plane: it gets its certificate, carries a connection over mTLS, and on SIGTERM
// stops taking new connections while the open one finishes, then exits 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parseConfig } from '../../control-plane/src/config.js';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/src/control-plane.js';

const SIDECAR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOKEN = `drain-test-token-${process.pid}-0123456789`;
let dir: string;
let controlPlane: RunningControlPlane;
let echo: net.Server;
let proxy: ChildProcess;
let output = '';
const ports = { outbound: 0, inbound: 0, admin: 0, app: 0 };

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; proxy output:\n${output.slice(-3000)}`);
}

function connectThroughMesh(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(ports.outbound, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

function roundTrip(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (data) => resolve(data.toString()));
    socket.once('error', reject);
    socket.write(text);
  });
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'reseal-drain-'));
  writeFileSync(path.join(dir, 'tokens.json'), JSON.stringify({ tokens: [{ token: TOKEN, namespace: 'shop', serviceAccount: 'web' }] }));
  writeFileSync(path.join(dir, 'token'), TOKEN);
  controlPlane = await startControlPlane(
    parseConfig({ RESEAL_STANDALONE_TOKENS: path.join(dir, 'tokens.json'), RESEAL_STANDALONE_CA_DIR: path.join(dir, 'ca'), RESEAL_LISTEN_HOST: '127.0.0.1', RESEAL_IDENTITY_PORT: '0', RESEAL_ADMIN_PORT: '0' }),
    { logger: pino({ level: 'silent' }) },
  );
  echo = net.createServer((socket) => {
    socket.on('data', (data) => socket.write(data));
    // The proxy's exit resets this side; that is expected, not a failure.
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  ports.app = (echo.address() as net.AddressInfo).port;
  for (const key of ['outbound', 'inbound', 'admin'] as const) ports[key] = await freePort();
  // One pod talking to itself: outbound → mTLS → its own inbound → the echo app.
  writeFileSync(
    path.join(dir, 'explicit.json'),
    JSON.stringify({
      listeners: [
        { direction: 'outbound', listen: `127.0.0.1:${ports.outbound}`, destination: `127.0.0.1:${ports.inbound}`, expectedIdentity: 'spiffe://cluster.local/ns/shop/sa/web' },
        { direction: 'inbound', listen: `127.0.0.1:${ports.inbound}`, appPort: ports.app, allowedIdentities: ['spiffe://cluster.local/ns/shop/*'] },
      ],
    }),
  );
  proxy = spawn(process.execPath, [path.join(SIDECAR, 'bin', 'reseal-proxy.js')], {
    env: {
      PATH: process.env.PATH,
      POD_NAMESPACE: 'shop',
      POD_NAME: 'web-0',
      SERVICE_ACCOUNT: 'web',
      RESEAL_CONTROL_PLANE_ADDRESS: `127.0.0.1:${controlPlane.identityPort}`,
      RESEAL_TOKEN_FILE: path.join(dir, 'token'),
      RESEAL_TRUST_BUNDLE_FILE: path.join(dir, 'ca', 'ca.crt'),
      RESEAL_EXPLICIT_CONFIG: path.join(dir, 'explicit.json'),
      RESEAL_ADMIN_PORT: String(ports.admin),
      RESEAL_DRAIN_SECONDS: '3',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proxy.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  proxy.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await until('the proxy to be ready', async () => (await fetch(`http://127.0.0.1:${ports.admin}/ready`)).status === 200);
});

after(async () => {
  proxy?.kill('SIGKILL');
  await new Promise((resolve) => echo?.close(resolve));
  await controlPlane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('explicit mode carries a connection over mTLS; SIGTERM drains it, refuses new ones, then exits 0', async () => {
  const open = await connectThroughMesh();
  assert.equal(await roundTrip(open, 'before'), 'before');
  const identity = (await (await fetch(`http://127.0.0.1:${ports.admin}/debug/identity`)).json()) as { spiffeId: string };
  assert.equal(identity.spiffeId, 'spiffe://cluster.local/ns/shop/sa/web');

  const exited = new Promise<number | null>((resolve) => proxy.once('exit', (code) => resolve(code)));
  const signalledAt = Date.now();
  proxy.kill('SIGTERM');
  await until('new connections to be refused', async () => {
    try {
      const socket = await connectThroughMesh();
      socket.destroy();
      return false;
    } catch {
      return true;
    }
  }, 5000);
  assert.equal(await roundTrip(open, 'during drain'), 'during drain', 'the open connection still works while draining');
  const code = await exited;
  assert.equal(code, 0);
  const tookMs = Date.now() - signalledAt;
  assert.ok(tookMs >= 2500 && tookMs < 10_000, `waited for the grace period with a connection open (${tookMs} ms)`);
  open.destroy();
});
