// Everything the demo's processes read, written into one fresh directory: the bootstrap
// tokens, the topology the control plane serves, each sidecar's explicit listeners, the
// edge's certificate, and the list of admin URLs the status page polls.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '@reseal/control-plane/src/ca/index.js';
import { generateWorkloadKeyPair, workloadSpiffeId } from '@reseal/core';
import type { PortPlan } from './port-plan.js';

export const TRUST_DOMAIN = 'cluster.local';
export const GATEWAY = { namespace: 'edge', pod: 'gateway-0', serviceAccount: 'gateway' } as const;
export const WEB = { namespace: 'shop', pod: 'web-0', serviceAccount: 'web' } as const;
export const GATEWAY_ID = workloadSpiffeId(TRUST_DOMAIN, GATEWAY.namespace, GATEWAY.serviceAccount);
export const WEB_ID = workloadSpiffeId(TRUST_DOMAIN, WEB.namespace, WEB.serviceAccount);
/** The name the edge certificate is for; clients connect to 127.0.0.1 and send this SNI. */
export const EDGE_SERVER_NAME = 'localhost';

export interface DemoFiles {
  readonly dir: string;
  readonly tokensFile: string;
  readonly topologyFile: string;
  readonly statusTargetsFile: string;
  readonly caDir: string;
  /** Written by the control plane when it first starts (ca.crt of its CA directory). */
  readonly trustBundleFile: string;
  readonly gateway: { tokenFile: string; explicitConfigFile: string };
  readonly web: { tokenFile: string; explicitConfigFile: string };
  readonly edge: { chainFile: string; keyFile: string; caFile: string; notAfter: Date };
}

export function writeDemoFiles(ports: PortPlan): DemoFiles {
  const dir = mkdtempSync(join(tmpdir(), 'reseal-demo-'));
  // Traversable, so that nginx's workers (user nobody when the demo runs as root) reach their
  // own subdirectory; every secret below is a 0600 file.
  chmodSync(dir, 0o711);
  const secret = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
    return path;
  };

  const gatewayToken = `demo-gateway-${randomBytes(16).toString('hex')}`;
  const webToken = `demo-web-${randomBytes(16).toString('hex')}`;
  const tokensFile = secret(
    'tokens.json',
    JSON.stringify({
      tokens: [
        { token: gatewayToken, namespace: GATEWAY.namespace, serviceAccount: GATEWAY.serviceAccount },
        { token: webToken, namespace: WEB.namespace, serviceAccount: WEB.serviceAccount },
      ],
    }),
  );

  const topologyFile = file('topology.json', {
    namespaces: [{ name: GATEWAY.namespace }, { name: WEB.namespace, mtlsMode: 'STRICT' }],
    pods: [
      { namespace: GATEWAY.namespace, name: GATEWAY.pod, ip: '127.0.0.1', serviceAccount: GATEWAY.serviceAccount, labels: { app: 'gateway' }, workload: 'gateway' },
      { namespace: WEB.namespace, name: WEB.pod, ip: '127.0.0.1', serviceAccount: WEB.serviceAccount, labels: { app: 'web' }, workload: 'web' },
    ],
    accessPolicies: [{ namespace: WEB.namespace, name: 'web-from-gateway', podSelector: { matchLabels: { app: 'web' } }, ports: [ports.app], allowedIdentities: [GATEWAY_ID] }],
  });

  const gatewayConfig = file('gateway-listeners.json', {
    listeners: [{ direction: 'outbound', listen: `127.0.0.1:${ports.gatewayOutbound}`, destination: `127.0.0.1:${ports.webInbound}`, expectedIdentity: WEB_ID }],
  });
  const webConfig = file('web-listeners.json', {
    listeners: [{ direction: 'inbound', listen: `127.0.0.1:${ports.webInbound}`, appPort: ports.app, allowedIdentities: [GATEWAY_ID], mtlsMode: 'STRICT' }],
  });

  // The edge's certificate comes from a CA of its own, as a public certificate would: the mesh
  // CA never signs anything a browser sees.
  const edgeCa = CertificateAuthority.generate({ trustDomain: 'edge.reseal.demo', nameConstraints: false, issuerTtlSeconds: 30 * 86_400, rootTtlSeconds: 60 * 86_400 });
  const edgeKey = generateWorkloadKeyPair();
  const edgeCert = edgeCa.issueServingCertificate({ publicKey: edgeKey.publicKey, dnsNames: [EDGE_SERVER_NAME], clientAuth: false, ttlSeconds: 7 * 86_400 });
  mkdirSync(join(dir, 'edge'), { mode: 0o755 });
  const edgeChain = file('edge/tls.crt', edgeCert.chainPem);
  const edgeKeyFile = secret('edge/tls.key', edgeKey.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  const edgeCaFile = file('edge/ca.crt', edgeCa.toPem()['ca.crt']);

  const statusTargetsFile = file('status-targets.json', {
    sidecars: [
      { pod: `${GATEWAY.namespace}/${GATEWAY.pod}`, adminUrl: `http://127.0.0.1:${ports.gatewayAdmin}` },
      { pod: `${WEB.namespace}/${WEB.pod}`, adminUrl: `http://127.0.0.1:${ports.webAdmin}` },
    ],
    entrypoints: [
      {
        name: 'edge',
        pod: `${GATEWAY.namespace}/${GATEWAY.pod}`,
        url: `https://127.0.0.1:${ports.edge}`,
        serverName: EDGE_SERVER_NAME,
        caFile: edgeCaFile,
        statusUrl: `http://127.0.0.1:${ports.edgeStatus}/status`,
      },
    ],
  });

  const caDir = join(dir, 'ca');
  return {
    dir,
    tokensFile,
    topologyFile,
    statusTargetsFile,
    caDir,
    trustBundleFile: join(caDir, 'ca.crt'),
    gateway: { tokenFile: secret('gateway.token', gatewayToken), explicitConfigFile: gatewayConfig },
    web: { tokenFile: secret('web.token', webToken), explicitConfigFile: webConfig },
    edge: { chainFile: edgeChain, keyFile: edgeKeyFile, caFile: edgeCaFile, notAfter: edgeCert.notAfter },
  };
}
