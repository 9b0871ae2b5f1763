// Pure: did every request get through, encrypted, across the mTLS hop? Decided from the
// client's own count, the app's count and the two sidecars' counters, never assumed.
import type { ClientStats } from './client-loop.js';
import { METRIC, type SidecarView } from './mesh-counters.js';

export interface AppStats {
  requests: number;
  connections: number;
  remoteAddresses: string[];
}

export interface Verdict {
  readonly pass: boolean;
  readonly lines: readonly string[];
  readonly failures: readonly string[];
}

export function decideVerdict(input: { client: ClientStats; app: AppStats; gateway: SidecarView; web: SidecarView; gatewayId: string; webId: string }): Verdict {
  const { client, app, gateway, web } = input;
  const failures: string[] = [];
  const check = (ok: boolean, failure: string) => {
    if (!ok) failures.push(failure);
  };
  const outboundMtls = gateway.count(METRIC.opened, { direction: 'outbound', tls: 'mtls', peer_identity: input.webId });
  const outboundOther = gateway.count(METRIC.opened, { direction: 'outbound' }) - outboundMtls;
  const inboundMtls = web.count(METRIC.opened, { direction: 'inbound', tls: 'mtls', peer_identity: input.gatewayId });
  const inboundPlain = web.count(METRIC.opened, { direction: 'inbound', tls: 'plaintext' });
  const inboundOther = web.count(METRIC.opened, { direction: 'inbound' }) - inboundMtls;
  const handshakeFailures = gateway.count(METRIC.handshakeFailures) + web.count(METRIC.handshakeFailures);
  const denials = gateway.count(METRIC.policyDenials) + web.count(METRIC.policyDenials);
  const tls = Object.entries(client.tlsVersions).map(([version, n]) => `${version} ×${n}`).join(', ') || 'none';

  check(client.sent > 0, 'the client sent no request');
  check(client.failed === 0 && client.ok === client.sent, `${client.failed} of ${client.sent} requests failed${client.lastError ? ` (last: ${client.lastError})` : ''}`);
  check(app.requests === client.ok, `the app answered ${app.requests} requests but the client got ${client.ok} answers`);
  check(inboundPlain === 0 && inboundOther === 0, `the web sidecar accepted ${inboundPlain} plaintext and ${inboundOther - inboundPlain} other non-mTLS connections`);
  check(outboundOther === 0, `the gateway sidecar made ${outboundOther} connections that were not mTLS to ${input.webId}`);
  // One upstream connection per request (the edge closes it after each): every connection the
  // app accepted came through the mTLS listener, and there was one per request.
  check(app.connections === inboundMtls, `the app accepted ${app.connections} connections but the web sidecar forwarded ${inboundMtls} mTLS ones`);
  check(inboundMtls === client.ok && outboundMtls === client.ok, `${client.ok} requests but ${outboundMtls} outbound / ${inboundMtls} inbound mTLS connections`);
  check(handshakeFailures === 0 && denials === 0, `${handshakeFailures} failed handshakes, ${denials} policy denials`);

  const lines = [
    `client        ${client.sent} requests, ${client.ok} answered by the app, ${client.failed} failed; edge TLS: ${tls}`,
    `gateway-0     outbound: ${outboundMtls} mTLS connections to ${input.webId}, ${outboundOther} other`,
    `web-0         inbound: ${inboundMtls} mTLS connections from ${input.gatewayId}, ${inboundPlain} plaintext, ${handshakeFailures} failed handshakes, ${denials} denied`,
    `app           ${app.requests} requests on ${app.connections} connections, from ${app.remoteAddresses.join(', ') || 'nobody'} (its sidecar, on loopback)`,
  ];
  return { pass: failures.length === 0, lines, failures };
}
