// Prometheus' Kubernetes pod discovery, served over HTTP service discovery. Debian's
// Prometheus is built without `kubernetes_sd_configs` (the Kubernetes client library is not
// packaged), so the test lists the pods itself and hands Prometheus the same target groups
// and `__meta_kubernetes_*` labels that `kubernetes_sd_configs: [{role: pod}]` produces
// (prometheus/discovery/kubernetes/pod.go: one target per declared container port, init
// containers included, and one port-less target per container without ports). The
// relabelling of manifests/dashboards/prometheus-scrape.yaml then runs unchanged.
import { createServer, type Server } from 'node:http';
import type { CoreV1Api, V1Container, V1Pod } from '@kubernetes/client-node';

export interface HttpSdGroup {
  readonly targets: string[];
  readonly labels: Record<string, string>;
}

const sanitize = (name: string): string => name.replace(/[^a-zA-Z0-9_]/g, '_');

function podReady(pod: V1Pod): string {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  return ready ? ready.status.toLowerCase() : 'unknown';
}

/** The target groups of `role: pod` for these pods (pods without an IP yet have none). */
export function podTargetGroups(pods: readonly V1Pod[]): HttpSdGroup[] {
  const groups: HttpSdGroup[] = [];
  for (const pod of pods) {
    const ip = pod.status?.podIP;
    if (!ip) continue;
    const meta = pod.metadata ?? {};
    const controller = meta.ownerReferences?.find((o) => o.controller);
    const podLabels: Record<string, string> = {
      __meta_kubernetes_namespace: meta.namespace ?? '',
      __meta_kubernetes_pod_name: meta.name ?? '',
      __meta_kubernetes_pod_ip: ip,
      __meta_kubernetes_pod_ready: podReady(pod),
      __meta_kubernetes_pod_phase: pod.status?.phase ?? '',
      __meta_kubernetes_pod_node_name: pod.spec?.nodeName ?? '',
      __meta_kubernetes_pod_host_ip: pod.status?.hostIP ?? '',
      __meta_kubernetes_pod_uid: meta.uid ?? '',
      ...(controller ? { __meta_kubernetes_pod_controller_kind: controller.kind, __meta_kubernetes_pod_controller_name: controller.name } : {}),
    };
    for (const [key, value] of Object.entries(meta.labels ?? {})) {
      podLabels[`__meta_kubernetes_pod_label_${sanitize(key)}`] = value;
      podLabels[`__meta_kubernetes_pod_labelpresent_${sanitize(key)}`] = 'true';
    }
    for (const [key, value] of Object.entries(meta.annotations ?? {})) {
      podLabels[`__meta_kubernetes_pod_annotation_${sanitize(key)}`] = value;
      podLabels[`__meta_kubernetes_pod_annotationpresent_${sanitize(key)}`] = 'true';
    }
    const containers: [V1Container, boolean][] = [...(pod.spec?.containers ?? []).map((c): [V1Container, boolean] => [c, false]), ...(pod.spec?.initContainers ?? []).map((c): [V1Container, boolean] => [c, true])];
    for (const [container, init] of containers) {
      const containerLabels = {
        ...podLabels,
        __meta_kubernetes_pod_container_name: container.name,
        __meta_kubernetes_pod_container_image: container.image ?? '',
        __meta_kubernetes_pod_container_init: String(init),
      };
      if (!container.ports?.length) {
        groups.push({ targets: [ip], labels: containerLabels });
        continue;
      }
      for (const port of container.ports) {
        groups.push({
          targets: [`${ip.includes(':') ? `[${ip}]` : ip}:${port.containerPort}`],
          labels: {
            ...containerLabels,
            __meta_kubernetes_pod_container_port_name: port.name ?? '',
            __meta_kubernetes_pod_container_port_number: String(port.containerPort),
            __meta_kubernetes_pod_container_port_protocol: port.protocol ?? 'TCP',
          },
        });
      }
    }
  }
  return groups;
}

export interface PodDiscoveryServer {
  /** The `http_sd_configs` URL. */
  readonly url: string;
  stop(): Promise<void>;
}

/** Answers every Prometheus refresh with the pods the API server has now. */
export async function startPodDiscovery(core: CoreV1Api): Promise<PodDiscoveryServer> {
  const server: Server = createServer((request, response) => {
    core.listPodForAllNamespaces().then(
      (list) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(podTargetGroups(list.items))),
      (error: unknown) => response.writeHead(503, { 'content-type': 'text/plain' }).end(`listing pods: ${(error as Error).message}\n`),
    );
    request.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/targets`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
