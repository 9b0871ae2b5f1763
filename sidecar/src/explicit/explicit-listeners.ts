import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { TlsIdentitySource } from '../identity/tls-identity.js';
import { InboundProxy } from '../inbound/inbound-proxy.js';
import type { InboundConnectionEvent, InboundPolicy } from '../inbound/inbound-proxy.js';
import { OutboundProxy } from '../outbound/outbound-proxy.js';
import { staticRouter } from '../outbound/outbound-route.js';
import type { HttpTelemetry } from '../telemetry/http-telemetry.js';
import type { ProxyMetrics } from '../telemetry/proxy-metrics.js';
import { identityAllowed } from './explicit-config.js';
import type { ExplicitConfig, ExplicitInboundListenerConfig, ExplicitOutboundListenerConfig } from './explicit-config.js';

export interface ExplicitListenerDeps {
  readonly identity: TlsIdentitySource;
  readonly metrics: ProxyMetrics;
  /** HTTP awareness for every listener; undefined: opaque TCP only. */
  readonly http?: HttpTelemetry | undefined;
  readonly logger: Logger;
  readonly onInboundConnection?: (event: InboundConnectionEvent) => void;
  /** Passed to every OutboundProxy (default true). */
  readonly sessionResumption?: boolean;
}

export interface RunningOutbound {
  readonly config: ExplicitOutboundListenerConfig;
  readonly proxy: OutboundProxy;
  readonly address: AddressInfo;
}

export interface RunningInbound {
  readonly config: ExplicitInboundListenerConfig;
  readonly proxy: InboundProxy;
  readonly address: AddressInfo;
}

export interface ExplicitListeners {
  readonly outbound: readonly RunningOutbound[];
  readonly inbound: readonly RunningInbound[];
  /** Stops accepting on every listener, drains for up to `graceMs`, aborts the rest. */
  close(graceMs?: number): Promise<void>;
}

/** The policy of one explicit inbound listener: its own mode and allow list. */
export function explicitInboundPolicy(config: ExplicitInboundListenerConfig): InboundPolicy {
  const allowed = config.allowedIdentities;
  return {
    mtlsMode: () => config.mtlsMode,
    allowsInbound: (_port, clientIdentity) => allowed === undefined || identityAllowed(allowed, clientIdentity),
  };
}

/** Starts every listener of `config`; if one cannot listen, the others are closed again and the error thrown. */
export async function startExplicitListeners(config: ExplicitConfig, deps: ExplicitListenerDeps): Promise<ExplicitListeners> {
  const outbound: RunningOutbound[] = [];
  const inbound: RunningInbound[] = [];
  const close = async (graceMs = 0) => {
    await Promise.all([...outbound.map((l) => l.proxy.close(graceMs)), ...inbound.map((l) => l.proxy.close(graceMs))]);
  };
  try {
    for (const listener of config.listeners) {
      if (listener.direction === 'outbound') {
        const proxy = new OutboundProxy({
          router: staticRouter({ host: listener.destination.host, port: listener.destination.port, identity: listener.expectedIdentity }),
          identity: deps.identity,
          metrics: deps.metrics,
          http: deps.http,
          logger: deps.logger.child({ listener: `${listener.listen.host}:${listener.listen.port}` }),
          ...(deps.sessionResumption === undefined ? {} : { sessionResumption: deps.sessionResumption }),
        });
        outbound.push({ config: listener, proxy, address: await proxy.listen(listener.listen.port, listener.listen.host) });
      } else {
        const proxy = new InboundProxy({
          policy: explicitInboundPolicy(listener),
          identity: deps.identity,
          metrics: deps.metrics,
          http: deps.http,
          logger: deps.logger.child({ listener: `${listener.listen.host}:${listener.listen.port}` }),
          appHost: listener.appHost,
          appPort: listener.appPort,
          ...(deps.onInboundConnection === undefined ? {} : { onConnection: deps.onInboundConnection }),
        });
        inbound.push({ config: listener, proxy, address: await proxy.listen(listener.listen.port, listener.listen.host) });
      }
    }
  } catch (error) {
    await close(0);
    throw error;
  }
  return { outbound, inbound, close };
}
