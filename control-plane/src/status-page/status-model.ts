// Pure: the topology, the issued-certificate log and what the probes saw, in; the page's
// snapshot out. Every "encrypted" mark comes from counters or a handshake, never from the
// topology alone: an edge no sidecar has counted is not drawn.
import type { Topology } from '../discovery/standalone-topology.js';
import type { IssuedCertificateRecord } from './issued-certificates.js';
import { sumSamples, type Sample } from './prometheus-text.js';
import type { EntrypointProbe, SidecarScrape } from './target-probes.js';
import type { StatusTargets } from './status-targets.js';

export type EdgeKind = 'edge-tls' | 'mesh' | 'loopback';

export interface StatusNode {
  /** "client", "<ns>/<pod>/app" or "<ns>/<pod>/sidecar". */
  readonly id: string;
  readonly label: string;
  readonly pod?: string;
  readonly role: 'client' | 'app' | 'sidecar';
  readonly spiffeId?: string;
}

export interface StatusEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: EdgeKind;
  readonly encrypted: boolean;
  /** e.g. "mTLS: spiffe://…/gateway → spiffe://…/web", "TLSv1.3 (edge certificate)", "plaintext on loopback". */
  readonly protection: string;
  /** Where the mark comes from. */
  readonly evidence: string;
  readonly connectionsTotal?: number;
  readonly connectionsPerSecond?: number;
  readonly requestsPerSecond?: number;
  readonly bytesPerSecond?: number;
}

export interface WorkloadStatus {
  readonly pod: string;
  readonly spiffeId: string;
  readonly meshed: boolean;
  readonly adminUrl?: string;
  readonly reachable: boolean;
  readonly error?: string;
  readonly certificate?: { serial: string; notAfter: string; expiresInSeconds: number; nextRenewal?: string; renewals?: { success: number; failure: number } };
}

export interface StatusSnapshot {
  readonly generatedAt: string;
  readonly trustDomain: string;
  readonly ca: { rootNotAfter: string; issuerNotAfter: string };
  readonly nodes: readonly StatusNode[];
  readonly edges: readonly StatusEdge[];
  readonly workloads: readonly WorkloadStatus[];
  readonly entrypoints: readonly { name: string; pod: string; url: string; ok: boolean; error?: string; protocol?: string; cipher?: string; certificate?: EntrypointProbe['certificate'] }[];
  readonly certificates: { issuedTotal: number; recent: readonly { spiffeId: string; serial: string; issuedAt: string; notAfter: string; expiresInSeconds: number }[] };
}

/** The samples of one target at two instants, for rates. */
export interface ScrapeWindow<T> {
  readonly first: T | undefined;
  readonly last: T | undefined;
}

export interface StatusInputs {
  readonly now: number;
  readonly trustDomain: string;
  readonly ca: { rootNotAfter: Date; issuerNotAfter: Date };
  readonly topology: Topology;
  readonly targets: StatusTargets;
  readonly sidecars: ReadonlyMap<string, ScrapeWindow<SidecarScrape>>;
  readonly entrypoints: ReadonlyMap<string, ScrapeWindow<EntrypointProbe>>;
  readonly issued: readonly IssuedCertificateRecord[];
  readonly issuedTotal: number;
}

const OPENED = 'reseal_proxy_connections_opened_total';
const SENT = 'reseal_proxy_sent_bytes_total';
const RECEIVED = 'reseal_proxy_received_bytes_total';
const HANDSHAKE_FAILURES = 'reseal_proxy_tls_handshake_failures_total';

export function buildStatusSnapshot(input: StatusInputs): StatusSnapshot {
  const { topology, targets, now } = input;
  const spiffeOf = (namespace: string, serviceAccount: string) => `spiffe://${input.trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  const adminOf = new Map(targets.sidecars.map((s) => [s.pod, s.adminUrl]));
  const podsById = new Map<string, string[]>();
  const workloads: WorkloadStatus[] = [];
  for (const pod of topology.pods) {
    const ref = `${pod.namespace}/${pod.name}`;
    const spiffeId = spiffeOf(pod.namespace, pod.serviceAccount);
    podsById.set(spiffeId, [...(podsById.get(spiffeId) ?? []), ref]);
    const window = input.sidecars.get(ref);
    const last = window?.last;
    const identity = last?.identity;
    workloads.push({
      pod: ref,
      spiffeId,
      meshed: pod.meshed,
      ...(adminOf.has(ref) ? { adminUrl: adminOf.get(ref)! } : {}),
      reachable: last?.ok ?? false,
      ...(last && !last.ok && last.error ? { error: last.error } : {}),
      ...(identity?.serial && identity.notAfter
        ? {
            certificate: {
              serial: identity.serial,
              notAfter: identity.notAfter,
              expiresInSeconds: Math.round((Date.parse(identity.notAfter) - now) / 1000),
              ...(identity.nextRenewal ? { nextRenewal: identity.nextRenewal } : {}),
              ...(identity.renewals ? { renewals: identity.renewals } : {}),
            },
          }
        : {}),
    });
  }

  // Nodes: the outside client, then every pod's app and (for meshed pods) sidecar.
  const nodes: StatusNode[] = [];
  if (targets.entrypoints.length > 0) nodes.push({ id: 'client', label: 'client', role: 'client' });
  for (const w of workloads) {
    nodes.push({ id: `${w.pod}/app`, label: `${w.pod} app`, pod: w.pod, role: 'app' });
    if (w.meshed) nodes.push({ id: `${w.pod}/sidecar`, label: `${w.pod} sidecar`, pod: w.pod, role: 'sidecar', spiffeId: w.spiffeId });
  }

  const edges: StatusEdge[] = [];
  for (const entry of targets.entrypoints) {
    const window = input.entrypoints.get(entry.name);
    const last = window?.last;
    const requestsPerSecond = rate(window?.first?.requests, window?.last?.requests, window?.first?.at, window?.last?.at);
    edges.push({
      from: 'client',
      to: `${entry.pod}/app`,
      kind: 'edge-tls',
      encrypted: last?.ok === true && last.protocol !== undefined,
      protection: last?.ok ? `${last.protocol} ${last.cipher ?? ''} (edge certificate, expires ${last.certificate?.notAfter ?? '?'})`.replace(/\s+\(/, ' (') : `not verified: ${last?.error ?? 'not probed yet'}`,
      evidence: `TLS handshake with ${entry.url} by the control plane${last ? ` ${Math.round((now - last.at) / 1000)} s ago` : ''}`,
      ...(last?.requests !== undefined ? { connectionsTotal: last.requests } : {}),
      ...(requestsPerSecond !== undefined ? { requestsPerSecond } : {}),
    });
  }

  // Mesh edges from the counters: each sidecar's inbound series names the client identity and
  // the transport; its outbound series name the server identity. Both views are merged.
  interface MeshAccumulator {
    from: string;
    to: string;
    tls: string;
    views: string[];
    opened: number;
    rateParts: number[];
    bytesParts: number[];
  }
  const mesh = new Map<string, MeshAccumulator>();
  const loopback = new Map<string, { from: string; to: string; opened: number; rate: number | undefined; bytes: number | undefined; evidence: string }>();
  for (const w of workloads) {
    const window = input.sidecars.get(w.pod);
    const last = window?.last;
    if (!last?.ok) continue;
    const first = window?.first?.ok ? window.first : undefined;
    for (const series of connectionSeries(last.samples)) {
      const { direction, peer, tls } = series;
      const opened = sumSamples(last.samples, OPENED, { direction, peer_identity: peer, tls });
      if (opened <= 0) continue;
      const match = { direction, peer_identity: peer, tls };
      const connRate = first ? rate(sumSamples(first.samples, OPENED, match), opened, first.at, last.at) : undefined;
      const bytesNow = sumSamples(last.samples, SENT, match) + sumSamples(last.samples, RECEIVED, match);
      const bytesRate = first ? rate(sumSamples(first.samples, SENT, match) + sumSamples(first.samples, RECEIVED, match), bytesNow, first.at, last.at) : undefined;
      const peerNode = peer === 'unknown' || peer === 'other' ? undefined : podsById.get(peer)?.[0];
      const self = `${w.pod}/sidecar`;
      const peerId = peerNode ? `${peerNode}/sidecar` : `unidentified:${peer}`;
      const [from, to] = direction === 'inbound' ? [peerId, self] : [self, peerId];
      const key = `${from}|${to}|${tls}`;
      const acc = mesh.get(key) ?? { from, to, tls, views: [], opened: 0, rateParts: [], bytesParts: [] };
      acc.views.push(`${w.pod} sidecar counted ${opened} ${direction} connection${opened === 1 ? '' : 's'} tls="${tls}" peer_identity="${peer}"`);
      acc.opened = Math.max(acc.opened, opened);
      if (connRate !== undefined) acc.rateParts.push(connRate);
      if (bytesRate !== undefined) acc.bytesParts.push(bytesRate);
      mesh.set(key, acc);
      // The app's side of the sidecar: always the pod's loopback.
      const appEdge = direction === 'inbound' ? { from: self, to: `${w.pod}/app` } : { from: `${w.pod}/app`, to: self };
      const loopKey = `${appEdge.from}|${appEdge.to}`;
      const prior = loopback.get(loopKey);
      loopback.set(loopKey, {
        ...appEdge,
        opened: (prior?.opened ?? 0) + opened,
        rate: add(prior?.rate, connRate),
        bytes: add(prior?.bytes, bytesRate),
        evidence: `${w.pod} sidecar's ${direction} listener talks to its app on 127.0.0.1`,
      });
    }
    const failures = sumSamples(last.samples, HANDSHAKE_FAILURES);
    if (failures > 0) {
      for (const acc of mesh.values()) if (acc.to === `${w.pod}/sidecar` || acc.from === `${w.pod}/sidecar`) acc.views.push(`${w.pod} sidecar: ${failures} failed handshakes`);
    }
  }
  for (const acc of mesh.values()) {
    const fromId = nodes.find((n) => n.id === acc.from)?.spiffeId ?? acc.from.replace(/^unidentified:/, '');
    const toId = nodes.find((n) => n.id === acc.to)?.spiffeId ?? acc.to.replace(/^unidentified:/, '');
    for (const id of [acc.from, acc.to]) if (id.startsWith('unidentified:') && !nodes.some((n) => n.id === id)) nodes.push({ id, label: id.slice('unidentified:'.length), role: 'client' });
    const encrypted = acc.tls === 'mtls';
    edges.push({
      from: acc.from,
      to: acc.to,
      kind: 'mesh',
      encrypted,
      protection: encrypted ? `mTLS ${fromId} → ${toId}` : 'PLAINTEXT between pods',
      evidence: acc.views.join('; '),
      connectionsTotal: acc.opened,
      ...(acc.rateParts.length ? { connectionsPerSecond: Math.max(...acc.rateParts) } : {}),
      ...(acc.bytesParts.length ? { bytesPerSecond: Math.max(...acc.bytesParts) } : {}),
    });
  }
  for (const loop of loopback.values()) {
    edges.push({
      from: loop.from,
      to: loop.to,
      kind: 'loopback',
      encrypted: false,
      protection: 'plaintext on loopback (never leaves the pod)',
      evidence: loop.evidence,
      connectionsTotal: loop.opened,
      ...(loop.rate !== undefined ? { connectionsPerSecond: loop.rate } : {}),
      ...(loop.bytes !== undefined ? { bytesPerSecond: loop.bytes } : {}),
    });
  }

  return {
    generatedAt: new Date(now).toISOString(),
    trustDomain: input.trustDomain,
    ca: { rootNotAfter: input.ca.rootNotAfter.toISOString(), issuerNotAfter: input.ca.issuerNotAfter.toISOString() },
    nodes,
    edges: orderEdges(edges),
    workloads,
    entrypoints: targets.entrypoints.map((entry) => {
      const last = input.entrypoints.get(entry.name)?.last;
      return {
        name: entry.name,
        pod: entry.pod,
        url: entry.url,
        ok: last?.ok ?? false,
        ...(last?.error ? { error: last.error } : {}),
        ...(last?.protocol ? { protocol: last.protocol } : {}),
        ...(last?.cipher ? { cipher: last.cipher } : {}),
        ...(last?.certificate ? { certificate: last.certificate } : {}),
      };
    }),
    certificates: {
      issuedTotal: input.issuedTotal,
      recent: input.issued.slice(0, 20).map((r) => ({
        spiffeId: r.spiffeId,
        serial: r.serial,
        issuedAt: r.issuedAt.toISOString(),
        notAfter: r.notAfter.toISOString(),
        expiresInSeconds: Math.round((r.notAfter.getTime() - now) / 1000),
      })),
    },
  };
}

function connectionSeries(samples: readonly Sample[]): { direction: string; peer: string; tls: string }[] {
  const seen = new Map<string, { direction: string; peer: string; tls: string }>();
  for (const s of samples) {
    if (s.name !== OPENED) continue;
    const direction = s.labels['direction'] ?? '';
    const peer = s.labels['peer_identity'] ?? 'unknown';
    const tls = s.labels['tls'] ?? '';
    seen.set(`${direction}|${peer}|${tls}`, { direction, peer, tls });
  }
  return [...seen.values()];
}

/** Per second between two readings of a counter; undefined without two distinct instants. */
export function rate(before: number | undefined, after: number | undefined, t0: number | undefined, t1: number | undefined): number | undefined {
  if (before === undefined || after === undefined || t0 === undefined || t1 === undefined || t1 <= t0) return undefined;
  // A counter that went down was reset (the process restarted): count from zero.
  const delta = after >= before ? after - before : after;
  return delta / ((t1 - t0) / 1000);
}

function add(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : a + b;
}

/** Along the path a request takes: the edge from the client first, then following each hop. */
function orderEdges(edges: StatusEdge[]): StatusEdge[] {
  const ordered: StatusEdge[] = [];
  const remaining = [...edges];
  const frontier = ['client'];
  while (frontier.length > 0) {
    const at = frontier.shift()!;
    for (let i = 0; i < remaining.length; ) {
      if (remaining[i]!.from === at) {
        const [edge] = remaining.splice(i, 1);
        ordered.push(edge!);
        frontier.push(edge!.to);
      } else i += 1;
    }
  }
  return [...ordered, ...remaining];
}
