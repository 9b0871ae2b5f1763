import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { AppProbe, GrpcAction, HttpGetAction, TcpSocketAction } from './app-probes.js';
import { healthClientConstructor } from './grpc-health.js';

export interface ProbeOutcome {
  readonly ok: boolean;
  /** For people reading /app-health by hand and for logs: what was tried and what came back. */
  readonly detail: string;
}

export interface ProbeTarget {
  /** Where the app listens; the proxy runs as UID 1337, so its connections are not captured. */
  readonly host: string;
}

// Kubernetes' default for timeoutSeconds.
const DEFAULT_TIMEOUT_SECONDS = 1;

/** Runs one HTTP, TCP or gRPC probe as kubelet would; never throws. */
export async function runProbe(probe: AppProbe, target: ProbeTarget): Promise<ProbeOutcome> {
  const timeoutMs = (probe.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  try {
    if (probe.httpGet) return await httpProbe(probe.httpGet, target.host, timeoutMs);
    if (probe.tcpSocket) return await tcpProbe(probe.tcpSocket, target.host, timeoutMs);
    if (probe.grpc) return await grpcProbe(probe.grpc, target.host, timeoutMs);
    return { ok: false, detail: 'exec probes are not run by the sidecar' };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

/** Like kubelet: any status from 200 to 399 passes; redirects are not followed (a 3xx passes anyway). */
function httpProbe(action: HttpGetAction, host: string, timeoutMs: number): Promise<ProbeOutcome> {
  const scheme = action.scheme ?? 'HTTP';
  const path = action.path ?? '/';
  const url = `${scheme.toLowerCase()}://${hostPort(host, action.port)}${path}`;
  const headers: Record<string, string | string[]> = { 'user-agent': 'kube-probe/reseal', accept: '*/*' };
  const userSet = new Set<string>();
  for (const { name, value } of action.httpHeaders ?? []) {
    const key = name.toLowerCase();
    // kubelet: a header the probe sets replaces the default; repeated names keep every value.
    if (!userSet.has(key)) {
      userSet.add(key);
      headers[key] = value;
    } else {
      const prior = headers[key]!;
      headers[key] = Array.isArray(prior) ? [...prior, value] : [prior, value];
    }
  }
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: ProbeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      request.destroy();
      resolve(outcome);
    };
    const options: https.RequestOptions = { host, port: action.port, path, method: 'GET', headers, agent: false };
    // kubelet does not verify the app's certificate on HTTPS probes either.
    const request = scheme === 'HTTPS' ? https.request({ ...options, rejectUnauthorized: false }) : http.request(options);
    const timer = setTimeout(() => finish({ ok: false, detail: `GET ${url}: no response within ${timeoutMs} ms` }), timeoutMs);
    request.on('response', (response) => {
      const code = response.statusCode ?? 0;
      response.resume();
      finish({ ok: code >= 200 && code < 400, detail: `GET ${url}: HTTP ${code}` });
    });
    request.on('error', (error) => finish({ ok: false, detail: `GET ${url}: ${error.message}` }));
    request.end();
  });
}

function tcpProbe(action: TcpSocketAction, host: string, timeoutMs: number): Promise<ProbeOutcome> {
  const address = hostPort(host, action.port);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: action.port });
    const finish = (outcome: ProbeOutcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ ok: false, detail: `TCP ${address}: no connection within ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => finish({ ok: true, detail: `TCP ${address}: connected` }));
    socket.once('error', (error) => finish({ ok: false, detail: `TCP ${address}: ${error.message}` }));
  });
}

/** grpc.health.v1.Health/Check over plaintext, as kubelet does; only SERVING passes. */
function grpcProbe(action: GrpcAction, host: string, timeoutMs: number): Promise<ProbeOutcome> {
  const address = hostPort(host, action.port);
  const service = action.service ?? '';
  const Client = healthClientConstructor();
  const client = new Client(address, grpc.credentials.createInsecure(), {
    // A subchannel of its own, so a probe right after an app restart is not failed by the
    // reconnect backoff a previous probe left in a shared one.
    'grpc.use_local_subchannel_pool': 1,
    'grpc.enable_retries': 0,
  });
  const label = `gRPC ${address} Health/Check${service ? ` service=${JSON.stringify(service)}` : ''}`;
  return new Promise((resolve) => {
    client.check({ service }, { deadline: Date.now() + timeoutMs }, (error, response) => {
      client.close();
      if (error) resolve({ ok: false, detail: `${label}: ${grpc.status[error.code] ?? error.code}: ${error.details}` });
      else resolve({ ok: response?.status === 'SERVING', detail: `${label}: ${response?.status ?? 'no response'}` });
    });
  });
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
