// npm run demo: the control plane (standalone), the edge, the gateway's sidecar, the app
// and its sidecar, all on 127.0.0.1 in explicit mode, and a client loop; prints what
// protects each hop as the requests flow.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ChildProcesses, type ManagedChild } from './child-processes.js';
import { startClientLoop, type ClientLoop } from './client-loop.js';
import { EDGE_SERVER_NAME, GATEWAY, GATEWAY_ID, TRUST_DOMAIN, WEB, WEB_ID, writeDemoFiles, type DemoFiles } from './demo-files.js';
import type { DemoOptions } from './demo-options.js';
import { planEdge } from './edge/edge-terminator.js';
import { METRIC, readSidecar, type SidecarView } from './mesh-counters.js';
import { checkPortsFree, portPlan, PortInUseError, type PortPlan } from './port-plan.js';
import { decideVerdict, type AppStats } from './verdict.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSX = fileURLToPath(import.meta.resolve('tsx'));
const GUARD = fileURLToPath(new URL('./child-guard.ts', import.meta.url));
const NODE_PRELOAD = ['--import', TSX, '--import', GUARD];

type Print = (line: string) => void;

export async function runDemo(options: DemoOptions, print: Print): Promise<number> {
  const ports = portPlan(options.portBase, options.edgePort);
  try {
    await checkPortsFree(ports);
  } catch (error) {
    if (error instanceof PortInUseError) {
      process.stderr.write(`npm run demo: ${error.message}\n`);
      return 1;
    }
    throw error;
  }

  const started = Date.now();
  const elapsed = () => `[${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s]`;
  const files = writeDemoFiles(ports);
  let failure: string | undefined;
  let wake: (() => void) | undefined;
  const stopRequested = new Promise<string>((resolve) => {
    wake = () => resolve('stop');
  });
  const children = new ChildProcesses(`${files.dir}/logs`, (child, code, signal) => {
    failure ??= `${child.name} exited unexpectedly (${signal ?? `code ${code}`}); its last lines:\n${child.tail()}`;
    wake?.();
  });
  let interrupted: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = signal;
    print(`\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping everything…`);
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Whatever happens to the demo, its children go with it (the Node ones also watch their stdin).
  const killOnExit = () => children.killAllNow();
  process.on('exit', killOnExit);

  let client: ClientLoop | undefined;
  let appStats: (() => Promise<AppStats>) | undefined;
  let exitCode = 1;
  try {
    print('Reseal demo: the whole mesh on 127.0.0.1, explicit mode (no iptables, no root, no cluster)');
    print(`  files and logs: ${files.dir}`);
    // RESEAL_DEMO_PARENT marks every process of this run (tests look for leftovers by it).
    const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'info', NODE_NO_WARNINGS: '1', RESEAL_DEMO_PARENT: String(process.pid) };
    const node = (script: string) => [...NODE_PRELOAD, script];
    const until = async (what: string, ready: () => Promise<boolean> | boolean, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (failure || interrupted) throw new Stopped();
        if (await Promise.resolve().then(ready).catch(() => false)) return;
        await sleep(150);
      }
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    };

    // 1. The control plane: CA, identity and discovery from the topology file, the status page.
    children.start({
      name: 'control-plane',
      command: process.execPath,
      args: node(`${REPO}control-plane/src/main.ts`),
      env: {
        ...baseEnv,
        RESEAL_STANDALONE_TOKENS: files.tokensFile,
        RESEAL_STANDALONE_TOPOLOGY: files.topologyFile,
        RESEAL_STANDALONE_CA_DIR: files.caDir,
        RESEAL_LISTEN_HOST: '127.0.0.1',
        RESEAL_IDENTITY_PORT: String(ports.controlPlane),
        RESEAL_ADMIN_PORT: String(ports.controlPlaneAdmin),
        RESEAL_CERT_TTL: `${options.certTtlSeconds}s`,
        RESEAL_STATUS_PORT: String(ports.statusPage),
        RESEAL_STATUS_TARGETS: files.statusTargetsFile,
      },
    });
    await until('the control plane', async () => existsSync(files.trustBundleFile) && (await httpOk(`http://127.0.0.1:${ports.controlPlaneAdmin}/ready`)));
    print(`  ✓ control plane    CA + identity + discovery on 127.0.0.1:${ports.controlPlane} (standalone, ${TRUST_DOMAIN}, cert TTL ${options.certTtlSeconds} s)`);

    // 2. The app, which speaks plain HTTP on loopback only.
    const app = children.start({ name: 'app-web', command: process.execPath, args: [...node(fileURLToPath(new URL('./backend-app.ts', import.meta.url))), String(ports.app)], env: baseEnv, ipc: true });
    await until('the app', () => new Promise<boolean>((resolve) => app.process.once('message', () => resolve(true))));
    appStats = () => askStats(app);
    print(`  ✓ app              ${WEB.namespace}/${WEB.pod}: plain HTTP on 127.0.0.1:${ports.app}`);

    // 3. The two sidecars, explicit mode.
    const sidecar = (who: typeof GATEWAY | typeof WEB, adminPort: number, tokenFile: string, explicitConfigFile: string) =>
      children.start({
        name: `sidecar-${who.pod}`,
        command: process.execPath,
        args: node(`${REPO}sidecar/src/main.ts`),
        env: {
          ...baseEnv,
          POD_NAMESPACE: who.namespace,
          POD_NAME: who.pod,
          POD_IP: '127.0.0.1',
          SERVICE_ACCOUNT: who.serviceAccount,
          RESEAL_CONTROL_PLANE_ADDRESS: `127.0.0.1:${ports.controlPlane}`,
          RESEAL_TOKEN_FILE: tokenFile,
          RESEAL_TRUST_BUNDLE_FILE: files.trustBundleFile,
          RESEAL_CERT_TTL_SECONDS: String(options.certTtlSeconds),
          RESEAL_ADMIN_PORT: String(adminPort),
          RESEAL_ADMIN_HOST: '127.0.0.1',
          RESEAL_EXPLICIT_CONFIG: explicitConfigFile,
          RESEAL_DRAIN_SECONDS: '1',
        },
      });
    sidecar(WEB, ports.webAdmin, files.web.tokenFile, files.web.explicitConfigFile);
    sidecar(GATEWAY, ports.gatewayAdmin, files.gateway.tokenFile, files.gateway.explicitConfigFile);
    await until('the sidecars', async () => (await httpOk(`http://127.0.0.1:${ports.webAdmin}/ready`)) && (await httpOk(`http://127.0.0.1:${ports.gatewayAdmin}/ready`)));
    const [web0, gateway0] = await Promise.all([readSidecar(`http://127.0.0.1:${ports.webAdmin}`, 'web'), readSidecar(`http://127.0.0.1:${ports.gatewayAdmin}`, 'gateway')]);
    print(`  ✓ sidecar web-0    ${web0.spiffeId}: inbound mTLS on 127.0.0.1:${ports.webInbound} → app; cert ${certText(web0)}`);
    print(`  ✓ sidecar gateway  ${gateway0.spiffeId}: outbound on 127.0.0.1:${ports.gatewayOutbound} → mTLS to web-0; cert ${certText(gateway0)}`);

    // 4. The edge: nginx if installed, else the Node terminator.
    const edge = planEdge(options.edge, files, ports, { execPath: process.execPath, preload: NODE_PRELOAD, env: baseEnv });
    children.start(edge.spec);
    await until('the edge', async () => (await canConnect(ports.edge)) && (await canConnect(ports.edgeStatus)));
    print(`  ✓ edge             ${edge.description} on https://127.0.0.1:${ports.edge} (its own CA, certificate for "${EDGE_SERVER_NAME}")`);
    print('');
    printWhereToLook(print, ports, files);

    // 5. The client loop, and the live view.
    client = startClientLoop({ host: '127.0.0.1', port: ports.edge, serverName: EDGE_SERVER_NAME, caPem: readFileSync(files.edge.caFile, 'utf8'), rate: options.rate });
    const end = options.durationSeconds === undefined ? undefined : Date.now() + options.durationSeconds * 1000;
    print(options.durationSeconds === undefined ? `Sending ${options.rate} requests/s; Ctrl-C stops everything.` : `Sending ${options.rate} requests/s for ${options.durationSeconds} s.`);
    const serials = new Map<string, string | undefined>([
      ['web-0', web0.serial],
      ['gateway-0', gateway0.serial],
    ]);
    let pathPrinted = false;
    let lastLine = Date.now();
    let lastOk = 0;
    while (!failure && !interrupted && (end === undefined || Date.now() < end)) {
      await Promise.race([sleep(Math.min(1000, end === undefined ? 1000 : Math.max(0, end - Date.now()))), stopRequested]);
      if (failure || interrupted) break;
      const [web, gateway] = await Promise.all([readSidecar(`http://127.0.0.1:${ports.webAdmin}`, 'web'), readSidecar(`http://127.0.0.1:${ports.gatewayAdmin}`, 'gateway')]);
      for (const [name, view] of [['web-0', web], ['gateway-0', gateway]] as const) {
        if (view.ok && view.serial && view.serial !== serials.get(name)) {
          print(`${elapsed()} ↻ ${name} renewed its certificate (new key, issuance #${view.renewalsSucceeded}): serial ${short(serials.get(name))} → ${certText(view)}`);
          serials.set(name, view.serial);
        }
      }
      if (!pathPrinted && client.stats.firstAnswer && web.connectionKinds.some((k) => k.direction === 'inbound')) {
        printPath(print, ports, client.stats.firstAnswer, gateway, web, edge.kind);
        pathPrinted = true;
      }
      if (Date.now() - lastLine >= 5000) {
        const rate = (client.stats.ok - lastOk) / ((Date.now() - lastLine) / 1000);
        lastLine = Date.now();
        lastOk = client.stats.ok;
        print(`${elapsed()} ${statusLine(client.stats, rate, gateway, web)}`);
      }
    }
    if (failure) throw new Stopped();

    await client.stop();
    // The last responses were read; give the counters of their connections a moment to settle.
    await sleep(300);
    const [gateway, web] = await Promise.all([readSidecar(`http://127.0.0.1:${ports.gatewayAdmin}`, 'gateway'), readSidecar(`http://127.0.0.1:${ports.webAdmin}`, 'web')]);
    const verdict = decideVerdict({ client: client.stats, app: await appStats(), gateway, web, gatewayId: GATEWAY_ID, webId: WEB_ID });
    const seconds = Math.round((Date.now() - started) / 1000);
    print('');
    print(`Summary after ${seconds} s`);
    for (const line of verdict.lines) print(`  ${line}`);
    print(`  certificates  web-0 ${certText(web)}, ${web.renewalsSucceeded} issued; gateway-0 ${certText(gateway)}, ${gateway.renewalsSucceeded} issued`);
    if (verdict.pass) {
      print('PASS: every request crossed the edge over TLS and the mesh over mutual TLS');
      exitCode = 0;
    } else {
      for (const f of verdict.failures) print(`  ✗ ${f}`);
      print('FAIL: not every request got through encrypted');
      exitCode = 1;
    }
    // Ctrl-C is how a newcomer ends the demo: a clean stop, exit 0, whatever the counts say.
    if (interrupted) exitCode = 0;
  } catch (error) {
    if (!(error instanceof Stopped)) failure ??= (error as Error).stack ?? String(error);
    if (interrupted && !failure) exitCode = 0;
  } finally {
    await client?.stop().catch(() => undefined);
    await children.stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killOnExit);
  }
  if (failure) {
    process.stderr.write(`npm run demo: ${failure}\n  logs kept in ${files.dir}/logs\n`);
    return 1;
  }
  rmSync(files.dir, { recursive: true, force: true });
  print(`Stopped: every process of the demo has exited${interrupted ? '' : ''}.`);
  return exitCode;
}

class Stopped extends Error {}

function printWhereToLook(print: Print, ports: PortPlan, files: DemoFiles): void {
  print('Where to look:');
  print(`  status page        http://127.0.0.1:${ports.statusPage}/   (topology, encrypted hops, certificates, rates; JSON at /status.json)`);
  print(`  control plane      http://127.0.0.1:${ports.controlPlaneAdmin}/metrics`);
  print(`  gateway sidecar    http://127.0.0.1:${ports.gatewayAdmin}/metrics  /debug/identity  /ready`);
  print(`  web sidecar        http://127.0.0.1:${ports.webAdmin}/metrics  /debug/identity  /ready`);
  print(`  edge yourself      curl --cacert ${files.edge.caFile} --resolve ${EDGE_SERVER_NAME}:${ports.edge}:127.0.0.1 https://${EDGE_SERVER_NAME}:${ports.edge}/hello`);
  print('');
}

function printPath(print: Print, ports: PortPlan, first: { tls: string; cipher: string }, gateway: SidecarView, web: SidecarView, edgeKind: string): void {
  const out = gateway.connectionKinds.find((k) => k.direction === 'outbound');
  const inb = web.connectionKinds.find((k) => k.direction === 'inbound');
  const hop = (tls: string | undefined) => (tls === 'mtls' ? 'mTLS' : `${tls ?? '?'} (NOT encrypted)`);
  print('The path of a request, hop by hop (read from the client socket and the sidecars\' counters):');
  print(`  client ──${first.tls} ${first.cipher}──▶ edge (${edgeKind}) 127.0.0.1:${ports.edge}            edge TLS, certificate of the edge CA`);
  print(`    ──plaintext HTTP──▶ gateway sidecar outbound 127.0.0.1:${ports.gatewayOutbound}     loopback inside pod edge/gateway-0`);
  print(`    ══${hop(out?.tls)}══▶ web sidecar inbound 127.0.0.1:${ports.webInbound}             client ${inb?.peer ?? '?'} → server ${out?.peer ?? '?'}`);
  print(`    ──plaintext HTTP──▶ app 127.0.0.1:${ports.app}                            loopback inside pod shop/web-0`);
  print('');
}

function statusLine(stats: { ok: number; failed: number }, rate: number, gateway: SidecarView, web: SidecarView): string {
  const mtls = web.count(METRIC.opened, { direction: 'inbound', tls: 'mtls' });
  const plain = web.count(METRIC.opened, { direction: 'inbound', tls: 'plaintext' });
  const failures = web.count(METRIC.handshakeFailures) + gateway.count(METRIC.handshakeFailures);
  return `${stats.ok} ok / ${stats.failed} failed (${rate.toFixed(1)} req/s) │ web-0 inbound: ${mtls} mTLS, ${plain} plaintext, ${failures} failed handshakes │ certs expire: gateway-0 ${expiresIn(gateway)}, web-0 ${expiresIn(web)}`;
}

function certText(view: SidecarView): string {
  return view.serial ? `serial ${short(view.serial)}, expires ${view.notAfter?.toISOString().slice(11, 19)} UTC (in ${expiresIn(view)})` : 'none';
}

function expiresIn(view: SidecarView): string {
  return view.notAfter ? `${Math.round((view.notAfter.getTime() - Date.now()) / 1000)} s` : '?';
}

function short(serial: string | undefined): string {
  return serial ? `${serial.slice(0, 8)}…` : 'none';
}

async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await response.body?.cancel();
  return response.ok;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function askStats(app: ManagedChild): Promise<AppStats> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the app did not report its counts')), 2000);
    const onMessage = (message: { kind?: string } & AppStats) => {
      if (message.kind !== 'stats') return;
      clearTimeout(timer);
      app.process.off('message', onMessage);
      resolve({ requests: message.requests, connections: message.connections, remoteAddresses: message.remoteAddresses });
    };
    app.process.on('message', onMessage);
    app.process.send({ kind: 'stats' });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
