// Probes as kubelet runs them: HTTP, TCP and gRPC from the node (the host network namespace) to the
// pod IP, exec inside the container; thresholds count consecutive results.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { V1ContainerPort, V1ExecAction, V1GRPCAction, V1HTTPGetAction, V1Probe, V1TCPSocketAction } from '@kubernetes/client-node';
import { grpcHealthCheck } from './grpc-health-probe.js';

export interface ProbeTarget {
  podIP: string;
  ports: V1ContainerPort[];
  exec(argv: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }>;
}

export interface ProbeResult {
  ok: boolean;
  message: string;
}

export interface ProbeHandler {
  exec?: V1ExecAction;
  httpGet?: V1HTTPGetAction;
  tcpSocket?: V1TCPSocketAction;
  grpc?: V1GRPCAction;
}

export function resolvePort(port: number | string | undefined, ports: V1ContainerPort[]): number {
  if (typeof port === 'number') return port;
  if (port === undefined) throw new Error('probe has no port');
  if (/^\d+$/.test(port)) return Number(port);
  const named = ports.find((p) => p.name === port);
  if (!named) throw new Error(`named port ${port} is not declared in the container's ports`);
  return named.containerPort;
}

/** The probe's port, or the failed result that a port the container does not declare makes. */
function probePort(port: number | string, target: ProbeTarget): number | ProbeResult {
  try {
    return resolvePort(port, target.ports);
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

function httpGet(action: V1HTTPGetAction, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const port = probePort(action.port as number | string, target);
  if (typeof port !== 'number') return Promise.resolve(port);
  return new Promise((resolve) => {
    const host = action.host || target.podIP;
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.33', accept: '*/*' };
    for (const h of action.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    const https = (action.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
    const path = action.path ? (action.path.startsWith('/') ? action.path : `/${action.path}`) : '/';
    const req = (https ? httpsRequest : httpRequest)(
      { host, port, path, method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false, agent: false },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve({ ok: status >= 200 && status < 400, message: `HTTP probe ${host}:${port}${path} → ${status}` });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, message: `HTTP probe ${host}:${port}${path} failed: ${err.message}` }));
    req.end();
  });
}

function tcpSocket(action: V1TCPSocketAction, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const port = probePort(action.port as number | string, target);
  if (typeof port !== 'number') return Promise.resolve(port);
  return new Promise((resolve) => {
    const host = action.host || target.podIP;
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true, message: `TCP probe ${host}:${port} connected` });
    });
    socket.once('timeout', () => socket.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    socket.once('error', (err) => resolve({ ok: false, message: `TCP probe ${host}:${port} failed: ${err.message}` }));
  });
}

/** Runs one probe (or lifecycle handler) attempt. */
export async function runHandler(handler: ProbeHandler, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  if (handler.httpGet) return httpGet(handler.httpGet, target, timeoutMs);
  if (handler.tcpSocket) return tcpSocket(handler.tcpSocket, target, timeoutMs);
  if (handler.exec) {
    const argv = handler.exec.command ?? [];
    if (argv.length === 0) return { ok: false, message: 'exec probe without a command' };
    try {
      const r = await target.exec(argv, timeoutMs);
      return { ok: r.code === 0, message: `exec ${argv.join(' ')} → ${r.code}${r.code === 0 ? '' : `: ${(r.stderr || r.stdout).trim().slice(-300)}`}` };
    } catch (err) {
      return { ok: false, message: `exec ${argv.join(' ')} failed: ${(err as Error).message}` };
    }
  }
  if (handler.grpc) return grpcHealthCheck(target.podIP, handler.grpc.port, handler.grpc.service ?? '', timeoutMs);
  return { ok: false, message: 'no probe handler' };
}

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

/**
 * Runs a probe periodically. `onChange(true)` fires when successThreshold consecutive successes
 * are reached, `onChange(false)` when failureThreshold consecutive failures are (again after
 * every further failureThreshold failures, like kubelet, which matters for liveness).
 */
export class ProbeLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  private state: boolean | undefined;

  constructor(
    readonly kind: ProbeKind,
    private readonly probe: V1Probe,
    private readonly target: ProbeTarget,
    private readonly onChange: (ok: boolean, message: string) => void,
  ) {}

  start(): void {
    this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const timeoutMs = (this.probe.timeoutSeconds ?? 1) * 1000;
    const result = await runHandler(this.probe, this.target, timeoutMs);
    if (this.stopped) return;
    const successThreshold = this.kind === 'readiness' ? (this.probe.successThreshold ?? 1) : 1;
    const failureThreshold = this.probe.failureThreshold ?? 3;
    if (result.ok) {
      this.failures = 0;
      this.successes++;
      if (this.successes >= successThreshold && this.state !== true) {
        this.state = true;
        this.onChange(true, result.message);
      }
    } else {
      this.successes = 0;
      this.failures++;
      if (this.failures >= failureThreshold) {
        this.failures = 0;
        this.state = false;
        this.onChange(false, result.message);
      }
    }
    if (this.kind === 'startup' && this.state === true) return; // a startup probe stops once it succeeds
    this.schedule((this.probe.periodSeconds ?? 10) * 1000);
  }
}
