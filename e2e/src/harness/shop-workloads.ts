// The e2e's workloads (e2e/scenarios/workloads/): the ingress controller with its TLS
// Secret, the web app behind an Ingress, a meshed intruder and an unmeshed client, applied
// with kubectl as a user would, then waited for until Ready.
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { EdgeTarget } from './edge-client.js';
import { makeEdgeTls } from './edge-tls.js';
import { REPO_ROOT } from './images.js';
import { eventually, isPodReady, type MeshE2e } from './mesh-e2e.js';

export const SHOP_HOST = 'shop.example';
export const WORKLOADS_DIR = join(REPO_ROOT, 'e2e/scenarios/workloads');

export interface ShopWorkloads {
  readonly ingressPod: V1Pod;
  readonly web: V1Pod;
  /** HTTPS to the ingress pod's 443 for shop.example, with the edge CA. */
  readonly edge: EdgeTarget;
}

export async function deployShop(mesh: MeshE2e, timeoutMs = 180_000): Promise<ShopWorkloads> {
  const tls = await makeEdgeTls(SHOP_HOST);
  // The controller's Namespace comes first, then its ServiceAccount and RBAC; the
  // Deployment's pod is created (and admitted) once its ServiceAccount exists.
  await mesh.kubectl(['apply', '-f', join(WORKLOADS_DIR, 'ingress.yaml'), '-f', join(REPO_ROOT, 'e2e/apps/ingress-nginx/rbac.yaml')]);
  await mesh.kubectl(['apply', '-f', join(WORKLOADS_DIR, 'shop.yaml'), '-f', join(WORKLOADS_DIR, 'outside.yaml')]);
  await mesh.core.createNamespacedSecret({
    namespace: 'shop',
    body: { metadata: { name: 'shop-tls' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': tls.certPem, 'tls.key': tls.keyPem } },
  });
  const ingressPod = await mesh.waitForPod('ingress', 'app.kubernetes.io/name=ingress-nginx', isPodReady, timeoutMs);
  const web = await mesh.waitForPod('shop', 'app=web', isPodReady, timeoutMs);
  // Ready in the API is not yet routed: the EndpointSlice, then nginx's reload follow. Wait on
  // the controller's model rather than on a request, which would open the upstream
  // connection before a scenario can watch it.
  const webAddress = `${web.status?.podIP}:8080`;
  await eventually(
    `nginx to route to ${webAddress}`,
    async () => {
      const response = await fetch(`http://${ingressPod.status?.podIP}:10254/debug/model`, { signal: AbortSignal.timeout(3000) });
      const status = (await response.json()) as { model?: { upstreams?: { addresses?: string[] }[] } | null };
      return status.model?.upstreams?.some((u) => u.addresses?.includes(webAddress)) ? true : undefined;
    },
    timeoutMs,
    250,
  );
  // The reload is a SIGHUP: let nginx's new worker take over.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return { ingressPod, web, edge: { address: ingressPod.status?.podIP ?? '', port: 443, host: SHOP_HOST, caPem: tls.caPem } };
}
