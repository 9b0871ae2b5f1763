// The real nginx (Debian's /usr/sbin/nginx, installed by CI: its absence fails this file)
// running configs from render-config.ts on loopback: TLS termination with a Secret's
// certificate, proxying to pod addresses (here a Node backend on 127.0.0.1), reloads, a
// config that `nginx -t` rejects, and no nginx left behind by a killed controller.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePorts } from '@reseal/test-cluster';
import { openAccessLog, type AccessLogReader } from '../apps/ingress-nginx/access-log.js';
import { silentLog } from '../apps/ingress-nginx/log.js';
import type { NginxModel } from '../apps/ingress-nginx/model.js';
import { startNginx, testConfig, type NginxMaster, type NginxPaths } from '../apps/ingress-nginx/nginx-process.js';
import { certificateFiles, renderConfig, type RenderOptions } from '../apps/ingress-nginx/render-config.js';
import { atomicWrite, prepareWorkDir, selfSignedCertificate } from '../apps/ingress-nginx/work-dir.js';
import { testWorkerUser } from './support/ingress-worker-user.js';

const NGINX = '/usr/sbin/nginx';
const SHOP_CERT = 'c0ffee'.repeat(6);

interface Backend {
  server: Server;
  port: number;
  seen: IncomingHttpHeaders[];
}

async function startBackend(name: string): Promise<Backend> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    seen.push(request.headers);
    response.writeHead(200, { 'content-type': 'text/plain' }).end(`${name} ${request.url}`);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

function curl(args: string[]): Promise<{ status: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '5', '-o', '-', '-w', '\n%{http_code}', ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      const at = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at), ...(error ? { error: stderr || error.message } : {}) });
    });
  });
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function shopModel(upstreamPort: number): NginxModel {
  return {
    servers: [
      {
        host: 'shop.example',
        certificate: SHOP_CERT,
        sslRedirect: true,
        locations: [{ path: '/', pathType: 'Prefix', backend: { kind: 'upstream', upstream: 'shop-web-80' }, source: 'shop/web' }],
      },
    ],
    defaultLocations: [],
    upstreams: [{ name: 'shop-web-80', addresses: [`127.0.0.1:${upstreamPort}`] }],
  };
}

describe('ingress-nginx with the real nginx', { timeout: 120_000 }, () => {
  let workDir: string;
  let paths: NginxPaths;
  let render: RenderOptions;
  let backend: Backend;
  let backend2: Backend;
  let master: NginxMaster | undefined;
  let accessLogReader: AccessLogReader | undefined;
  const accessLog: string[] = [];

  const shopUrl = (path: string) => [
    '--cacert', certificateFiles(workDir, SHOP_CERT).cert,
    '--resolve', `shop.example:${render.httpsPort}:127.0.0.1`,
    `https://shop.example:${render.httpsPort}${path}`,
  ];

  /** Writes, tests and (if it passes) installs a config; returns the nginx -t result. */
  async function apply(model: NginxModel): Promise<Awaited<ReturnType<typeof testConfig>>> {
    const candidate = join(workDir, 'nginx.conf.candidate');
    await atomicWrite(candidate, renderConfig(model, render), 0o644);
    const result = await testConfig(paths, candidate);
    if (result.ok) await atomicWrite(paths.confPath, renderConfig(model, render), 0o644);
    return result;
  }

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'ingress-nginx-test-'));
    paths = { binary: NGINX, workDir, confPath: join(workDir, 'nginx.conf') };
    const workerUser = testWorkerUser();
    const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
    render = {
      workDir,
      httpPort,
      httpsPort,
      listenAddress: '127.0.0.1',
      ...(workerUser ? { workerUser } : {}),
    };
    await prepareWorkDir(workDir);
    accessLogReader = await openAccessLog(workDir, (line) => accessLog.push(line));
    await selfSignedCertificate(certificateFiles(workDir, SHOP_CERT), 'shop.example', ['shop.example']);
    backend = await startBackend('backend-1');
    backend2 = await startBackend('backend-2');
  });

  after(async () => {
    await master?.stop(5000);
    await accessLogReader?.close();
    backend?.server.close();
    backend2?.server.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('has nginx installed (CI installs nginx-core; this fails rather than skips)', () => {
    assert.ok(existsSync(NGINX), `${NGINX} is missing: apt-get install -y nginx-core`);
  });

  it('terminates TLS with the host certificate and proxies to the pod address', async () => {
    assert.deepEqual(await apply(shopModel(backend.port)), { ok: true });
    master = await startNginx(paths, { log: silentLog });

    const response = await curl(shopUrl('/x'));
    assert.equal(response.error, undefined);
    assert.equal(response.status, 200);
    assert.equal(response.body, 'backend-1 /x');
    const headers = backend.seen.at(-1)!;
    assert.equal(headers['x-forwarded-proto'], 'https');
    assert.match(String(headers['x-request-id']), /^[0-9a-f]{32}$/);
    assert.equal(headers['x-forwarded-host'], 'shop.example');
    assert.equal(headers['x-real-ip'], '127.0.0.1');
    assert.equal(headers['host'], 'shop.example');

    // a client's request id is passed on, and the access log is JSON with the upstream
    await curl([...shopUrl('/y'), '-H', 'X-Request-ID: abc-123']);
    assert.equal(backend.seen.at(-1)!['x-request-id'], 'abc-123');
    for (let i = 0; i < 50 && accessLog.length < 2; i++) await sleep(20);
    const entry = JSON.parse(accessLog.at(-1)!) as Record<string, unknown>;
    assert.equal(entry['request_id'], 'abc-123');
    assert.equal(entry['upstream_addr'], `127.0.0.1:${backend.port}`);
    assert.equal(entry['status'], 200);
    assert.equal(typeof entry['request_time'], 'number');
  });

  it('answers 404 for an unknown host and redirects the host\'s plain HTTP to HTTPS', async () => {
    const unknown = await curl(['-k', '--resolve', `other.example:${render.httpsPort}:127.0.0.1`, `https://other.example:${render.httpsPort}/`]);
    assert.equal(unknown.status, 404);
    const plain = await curl(['--resolve', `shop.example:${render.httpPort}:127.0.0.1`, `http://shop.example:${render.httpPort}/x?q=1`, '-D', '-']);
    assert.equal(plain.status, 308);
    assert.match(plain.body, new RegExp(`location: https://shop.example:${render.httpsPort}/x\\?q=1`, 'i'));
  });

  it('answers 503 for a service without ready endpoints', async () => {
    const model = shopModel(backend.port);
    model.servers[0]!.locations.push({ path: '/down', pathType: 'Prefix', backend: { kind: 'status', status: 503 }, source: 'shop/down' });
    assert.deepEqual(await apply(model), { ok: true });
    master!.reload();
    await until(async () => (await curl(shopUrl('/down/x'))).status === 503);
    assert.equal((await curl(shopUrl('/x'))).body, 'backend-1 /x');
  });

  it('reloads onto a changed upstream', async () => {
    assert.deepEqual(await apply(shopModel(backend2.port)), { ok: true });
    master!.reload();
    await until(async () => (await curl(shopUrl('/x'))).body === 'backend-2 /x');
    assert.ok(master!.running());
  });

  it('keeps serving the previous config when nginx -t rejects the new one', async () => {
    const broken = shopModel(backend.port);
    broken.servers[0]!.certificate = 'dead'.repeat(8); // no such certificate file
    const result = await apply(broken);
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.output : '', /cannot load certificate/);
    // the live nginx.conf was not replaced: a reload (as any later change would cause) keeps backend-2
    master!.reload();
    await sleep(300);
    const response = await curl(shopUrl('/x'));
    assert.equal(response.body, 'backend-2 /x');
    assert.ok(master!.running());
  });

  it('stops gracefully on stop(): master and workers gone, ports closed', async () => {
    const pid = master!.pid;
    await master!.stop(5000);
    assert.equal(master!.running(), false);
    assert.equal(alive(pid), false);
    assert.ok(await refused(render.httpsPort));
    assert.ok(await refused(render.httpPort));
    master = undefined;
  });

  it('leaves no nginx behind when the controller process is killed', async () => {
    // a child controller that starts nginx and prints its pid; SIGKILL cannot be caught,
    // so this is the parent-death signal's job
    const script = join(workDir, 'start-nginx.mts');
    const module = fileURLToPath(new URL('../apps/ingress-nginx/nginx-process.ts', import.meta.url));
    await writeFile(
      script,
      `import { startNginx } from ${JSON.stringify(module)};\n` +
        `const m = await startNginx(${JSON.stringify(paths)}, { log: { debug() {}, info() {}, warn() {}, error() {} } });\n` +
        `console.log(m.pid);\nsetInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('..', import.meta.url)) });
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
        child.once('exit', (code) => reject(new Error(`controller stand-in exited ${code}`)));
      });
      assert.ok(alive(pid));
      assert.equal(await refused(render.httpsPort), false);
      child.kill('SIGKILL');
      await until(async () => !alive(pid) && (await refused(render.httpsPort)));
    } finally {
      child.kill('SIGKILL');
    }
  });
});

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}
