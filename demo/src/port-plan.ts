// The demo's ports: a fixed block above 1024 (no root needed), all on 127.0.0.1, checked
// free before anything starts so that a second demo fails at once with a clear message.
import { createServer } from 'node:net';

export interface PortPlan {
  readonly statusPage: number;
  readonly controlPlane: number;
  readonly controlPlaneAdmin: number;
  readonly gatewayAdmin: number;
  readonly gatewayOutbound: number;
  readonly webAdmin: number;
  readonly webInbound: number;
  readonly edgeStatus: number;
  readonly app: number;
  readonly edge: number;
}

export const PORT_ROLES: Record<keyof PortPlan, string> = {
  statusPage: 'status page',
  controlPlane: 'control plane (identity + discovery gRPC)',
  controlPlaneAdmin: 'control plane admin',
  gatewayAdmin: 'gateway sidecar admin',
  gatewayOutbound: 'gateway sidecar outbound listener',
  webAdmin: 'web sidecar admin',
  webInbound: 'web sidecar inbound listener (mTLS)',
  edgeStatus: 'edge terminator stub_status',
  app: 'backend app',
  edge: 'edge HTTPS',
};

export function portPlan(base: number, edge: number): PortPlan {
  return {
    statusPage: base,
    controlPlane: base + 12,
    controlPlaneAdmin: base + 14,
    gatewayAdmin: base + 20,
    gatewayOutbound: base + 21,
    webAdmin: base + 30,
    webInbound: base + 36,
    edgeStatus: base + 43,
    app: base + 80,
    edge,
  };
}

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
}

/** Throws PortInUseError naming the first port of the plan that cannot be bound on 127.0.0.1. */
export async function checkPortsFree(plan: PortPlan): Promise<void> {
  const seen = new Set<number>();
  for (const [role, port] of Object.entries(plan) as [keyof PortPlan, number][]) {
    if (seen.has(port)) throw new PortInUseError(`port ${port} is planned twice (${PORT_ROLES[role]}); pass a different --edge-port or --port-base`);
    seen.add(port);
    const problem = await tryBind(port);
    if (problem) {
      const hint = role === 'edge' ? 'stop it or pass --edge-port N' : 'stop it or pass --port-base N';
      throw new PortInUseError(`port ${port} (${PORT_ROLES[role]}) is ${problem === 'EADDRINUSE' ? 'in use (by another demo?)' : `not usable (${problem})`}; ${hint}`);
    }
  }
}

function tryBind(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
