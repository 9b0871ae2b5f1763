// The controller-manager's endpoint controllers, reduced to what the e2e needs: for every
// Service with a selector, one EndpointSlice (what the mesh's discovery and the ingress
// read) and the legacy Endpoints object (what kube-apiserver's aggregator routing reads
// when it calls the admission webhook's Service) listing the matching pods that have an IP,
// with their readiness. Recomputed on every Pod or Service change.
import {
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  type DiscoveryV1EndpointPort,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { isNotFound, watchList, type ListWatch } from './api-watch.js';

const MANAGED_BY = 'endpointslice-controller.k8s.io';

export interface EndpointsController {
  stop(): void;
}

interface Address {
  readonly ip: string;
  readonly ready: boolean;
  readonly podName: string;
  readonly podUid: string;
  readonly terminating: boolean;
}

function selects(selector: Record<string, string>, pod: V1Pod): boolean {
  const labels = pod.metadata?.labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** targetPort as a number, resolving a port name against the first selected pod that names it. */
function targetPort(port: NonNullable<NonNullable<V1Service['spec']>['ports']>[number], pods: readonly V1Pod[]): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(String(target))) return Number(target);
  for (const pod of pods) {
    for (const container of pod.spec?.containers ?? []) {
      const named = container.ports?.find((p) => p.name === target);
      if (named) return named.containerPort;
    }
  }
  return undefined;
}

export function startEndpointsController(kubeConfig: KubeConfig, log: (line: string) => void): EndpointsController {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
  const pods = new Map<string, V1Pod>();
  const services = new Map<string, V1Service>();
  const written = new Map<string, string>();
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  let stopped = false;

  const key = (o: { metadata?: { namespace?: string; name?: string } }): string => `${o.metadata?.namespace}/${o.metadata?.name}`;

  async function reconcileService(service: V1Service): Promise<void> {
    const namespace = service.metadata?.namespace ?? 'default';
    const name = service.metadata?.name ?? '';
    const selector = service.spec?.selector;
    if (!selector || Object.keys(selector).length === 0) return;
    const selected = [...pods.values()].filter((p) => p.metadata?.namespace === namespace && selects(selector, p));
    const addresses: Address[] = selected
      .filter((p) => p.status?.podIP)
      .map((p) => ({
        ip: p.status!.podIP!,
        ready: isReady(p) && !p.metadata?.deletionTimestamp,
        podName: p.metadata?.name ?? '',
        podUid: p.metadata?.uid ?? '',
        terminating: Boolean(p.metadata?.deletionTimestamp),
      }))
      .sort((a, b) => a.ip.localeCompare(b.ip));
    const ports = (service.spec?.ports ?? [])
      .map((p) => ({ name: p.name ?? '', port: targetPort(p, selected), protocol: p.protocol ?? 'TCP', appProtocol: p.appProtocol }))
      .filter((p): p is { name: string; port: number; protocol: string; appProtocol: string | undefined } => p.port !== undefined);
    const fingerprint = JSON.stringify({ addresses, ports });
    if (written.get(key(service)) === fingerprint) return;

    const slicePorts: DiscoveryV1EndpointPort[] = ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }));
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${name}-e2e`,
        namespace,
        labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': MANAGED_BY },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid: service.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
      },
      addressType: 'IPv4',
      ports: slicePorts,
      endpoints: addresses.map((a) => ({
        addresses: [a.ip],
        conditions: { ready: a.ready, serving: !a.terminating || a.ready, terminating: a.terminating },
        targetRef: { kind: 'Pod', namespace, name: a.podName, uid: a.podUid },
      })),
    };
    const ready = addresses.filter((a) => a.ready);
    const notReady = addresses.filter((a) => !a.ready);
    const subsetAddresses = (list: Address[]): { ip: string; targetRef: { kind: string; namespace: string; name: string; uid: string } }[] =>
      list.map((a) => ({ ip: a.ip, targetRef: { kind: 'Pod', namespace, name: a.podName, uid: a.podUid } }));
    const endpoints = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace, labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
      subsets:
        addresses.length === 0
          ? []
          : [
              {
                ...(ready.length ? { addresses: subsetAddresses(ready) } : {}),
                ...(notReady.length ? { notReadyAddresses: subsetAddresses(notReady) } : {}),
                ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
              },
            ],
    };
    await upsert(
      () => discovery.replaceNamespacedEndpointSlice({ name: slice.metadata.name, namespace, body: slice }),
      () => discovery.createNamespacedEndpointSlice({ namespace, body: slice }),
      () => discovery.readNamespacedEndpointSlice({ name: slice.metadata.name, namespace }),
    );
    await upsert(
      () => core.replaceNamespacedEndpoints({ name, namespace, body: endpoints }),
      () => core.createNamespacedEndpoints({ namespace, body: endpoints }),
      () => core.readNamespacedEndpoints({ name, namespace }),
    );
    written.set(key(service), fingerprint);
    log(`endpoints ${namespace}/${name}: ${addresses.map((a) => `${a.ip}${a.ready ? '' : '(not ready)'}`).join(' ') || 'none'}`);
  }

  /** Bodies carry no resourceVersion: replace is unconditional (this is the only writer). */
  async function upsert(replace: () => Promise<unknown>, create: () => Promise<unknown>, read: () => Promise<unknown>): Promise<void> {
    try {
      await read();
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await create();
      return;
    }
    await replace();
  }

  function schedule(): void {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = running
        .then(async () => {
          for (const service of services.values()) await reconcileService(service);
        })
        .catch((error: unknown) => {
          log(`endpoints controller: ${(error as Error).message}; retrying`);
          setTimeout(schedule, 500).unref();
        });
    }, 50);
  }

  const watches: ListWatch[] = [
    watchList<V1Pod>(kubeConfig, '/api/v1/pods', () => core.listPodForAllNamespaces(), {
      upsert: (pod) => {
        pods.set(key(pod), pod);
        schedule();
      },
      remove: (pod) => {
        pods.delete(key(pod));
        schedule();
      },
      error: (error) => log(`endpoints controller pod watch: ${error.message}`),
    }),
    watchList<V1Service>(kubeConfig, '/api/v1/services', () => core.listServiceForAllNamespaces(), {
      upsert: (service) => {
        services.set(key(service), service);
        schedule();
      },
      remove: (service) => {
        services.delete(key(service));
        written.delete(key(service));
      },
      error: (error) => log(`endpoints controller service watch: ${error.message}`),
    }),
  ];

  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const w of watches) w.stop();
    },
  };
}
