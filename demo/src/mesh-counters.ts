// What the demo reads from the sidecars' admin ports: their identity (for expiry and
// renewals) and the connection counters that show each hop's transport.
import { scrapeSidecar, sumSamples, type SidecarScrape } from '@reseal/control-plane/src/status-page/index.js';

export interface SidecarView {
  readonly ok: boolean;
  readonly error?: string;
  readonly spiffeId: string;
  readonly serial: string | undefined;
  readonly notAfter: Date | undefined;
  readonly renewalsSucceeded: number;
  readonly renewalsFailed: number;
  readonly count: (name: string, labels?: Record<string, string>) => number;
  /** Distinct (direction, peer_identity, tls) of the connections it has carried. */
  readonly connectionKinds: readonly { direction: string; peer: string; tls: string; opened: number }[];
}

export const METRIC = {
  opened: 'reseal_proxy_connections_opened_total',
  handshakeFailures: 'reseal_proxy_tls_handshake_failures_total',
  policyDenials: 'reseal_proxy_policy_denials_total',
  connectionFailures: 'reseal_proxy_connection_failures_total',
} as const;

export async function readSidecar(adminUrl: string, pod: string): Promise<SidecarView> {
  return viewOf(await scrapeSidecar({ pod, adminUrl }));
}

export function viewOf(scrape: SidecarScrape): SidecarView {
  const kinds = new Map<string, { direction: string; peer: string; tls: string; opened: number }>();
  for (const s of scrape.samples) {
    if (s.name !== METRIC.opened) continue;
    const key = `${s.labels['direction']}|${s.labels['peer_identity']}|${s.labels['tls']}`;
    const prior = kinds.get(key);
    kinds.set(key, { direction: s.labels['direction'] ?? '', peer: s.labels['peer_identity'] ?? '', tls: s.labels['tls'] ?? '', opened: (prior?.opened ?? 0) + s.value });
  }
  return {
    ok: scrape.ok,
    ...(scrape.error ? { error: scrape.error } : {}),
    spiffeId: scrape.identity?.spiffeId ?? '',
    serial: scrape.identity?.serial,
    notAfter: scrape.identity?.notAfter ? new Date(scrape.identity.notAfter) : undefined,
    renewalsSucceeded: scrape.identity?.renewals?.success ?? 0,
    renewalsFailed: scrape.identity?.renewals?.failure ?? 0,
    count: (name, labels = {}) => sumSamples(scrape.samples, name, labels),
    connectionKinds: [...kinds.values()],
  };
}
