import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1EndpointSlice,
  type V1Namespace,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { httpStatusOf } from '../kubernetes/api-errors.js';
import { ACCESS_POLICY_GROUP, ACCESS_POLICY_PLURAL, ACCESS_POLICY_VERSION, accessPolicyRecordFromObject } from '../policy/access-policy.js';
import { endpointSliceRecordOf, namespaceRecordOf, podRecordOf, serviceRecordOf } from './kubernetes-records.js';
import type { MeshModel } from './mesh-model.js';

export interface KubernetesMeshSourceOptions {
  logger: Logger;
  /** The model changed. */
  onChange: () => void;
  /** Every kind was listed once (the AccessPolicy CRD may be absent: that counts as listed, empty). */
  onSynced: () => void;
  /** First delay before a failed watch is restarted; doubles up to 30 s. */
  restartDelayMs?: number;
  /** How often to look again for the AccessPolicy CRD when it is not installed. */
  crdRetryMs?: number;
}

interface Watched {
  kind: string;
  informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  listed: boolean;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Informers on Pods, Services, EndpointSlices, Namespaces and AccessPolicies (all namespaces)
 * that keep the mesh model current. A failed watch restarts with backoff while the model
 * keeps its last state; sidecars see no change until the cluster really changes.
 */
export class KubernetesMeshSource {
  private readonly watched: Watched[] = [];
  private stopped = false;
  private synced = false;
  private crdMissingLogged = false;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly model: MeshModel,
    private readonly options: KubernetesMeshSourceOptions,
  ) {}

  /** Resolves once every informer has made its first attempt to list. */
  async start(): Promise<void> {
    const core = this.kubeConfig.makeApiClient(CoreV1Api);
    const discovery = this.kubeConfig.makeApiClient(DiscoveryV1Api);
    const custom = this.kubeConfig.makeApiClient(CustomObjectsApi);
    const { model } = this;
    this.add<V1Pod>('pods', '/api/v1/pods', () => core.listPodForAllNamespaces(), {
      upsert: (pod) => {
        const record = podRecordOf(pod);
        if (record) model.upsertPod(record);
      },
      remove: (pod) => model.removePod(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''),
    });
    this.add<V1Service>('services', '/api/v1/services', () => core.listServiceForAllNamespaces(), {
      upsert: (service) => {
        const record = serviceRecordOf(service);
        if (record) model.upsertService(record);
        // A Service turned into ExternalName loses its cluster IP.
        else model.removeService(service.metadata?.namespace ?? '', service.metadata?.name ?? '');
      },
      remove: (service) => model.removeService(service.metadata?.namespace ?? '', service.metadata?.name ?? ''),
    });
    this.add<V1EndpointSlice>('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces(), {
      upsert: (slice) => {
        const record = endpointSliceRecordOf(slice);
        if (record) model.upsertEndpointSlice(record);
        else model.removeEndpointSlice(slice.metadata?.namespace ?? '', slice.metadata?.name ?? '');
      },
      remove: (slice) => model.removeEndpointSlice(slice.metadata?.namespace ?? '', slice.metadata?.name ?? ''),
    });
    this.add<V1Namespace>('namespaces', '/api/v1/namespaces', () => core.listNamespace(), {
      upsert: (namespace) => {
        const record = namespaceRecordOf(namespace);
        if (record) model.upsertNamespace(record);
      },
      remove: (namespace) => model.removeNamespace(namespace.metadata?.name ?? ''),
    });
    this.add<KubernetesObject>(
      'accesspolicies',
      `/apis/${ACCESS_POLICY_GROUP}/${ACCESS_POLICY_VERSION}/${ACCESS_POLICY_PLURAL}`,
      async () =>
        (await custom.listClusterCustomObject({ group: ACCESS_POLICY_GROUP, version: ACCESS_POLICY_VERSION, plural: ACCESS_POLICY_PLURAL })) as KubernetesListObject<KubernetesObject>,
      {
        upsert: (object) => {
          const record = accessPolicyRecordFromObject(object);
          if (record) model.upsertPolicy(record);
        },
        remove: (object) => model.removePolicy(object.metadata?.namespace ?? '', object.metadata?.name ?? ''),
      },
    );
    await Promise.all(this.watched.map((w) => this.run(w)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watched) {
      if (w.timer) clearTimeout(w.timer);
      await w.informer.stop();
    }
  }

  private add<T extends KubernetesObject>(
    kind: string,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
    apply: { upsert: (object: T) => void; remove: (object: T) => void },
  ): void {
    const watched: Watched = { kind, informer: undefined as never, listed: false, failures: 0, timer: undefined };
    const informer = makeInformer<T>(this.kubeConfig, path, async () => {
      const result = await list();
      watched.listed = true;
      watched.failures = 0;
      return result;
    });
    const changed = (handler: (object: T) => void) => (object: T) => {
      handler(object);
      this.options.onChange();
    };
    informer.on('add', changed(apply.upsert));
    informer.on('update', changed(apply.upsert));
    informer.on('delete', changed(apply.remove));
    informer.on('error', (error: unknown) => this.failed(watched, error));
    watched.informer = informer as unknown as Watched['informer'];
    this.watched.push(watched);
  }

  private async run(watched: Watched): Promise<void> {
    if (this.stopped) return;
    await watched.informer.start();
    this.checkSynced();
  }

  private failed(watched: Watched, error: unknown): void {
    if (this.stopped) return;
    const code = httpStatusOf(error);
    let delay: number;
    if (watched.kind === 'accesspolicies' && code === 404) {
      // No CRD, no policies: every pod is unrestricted, which is also what an installed CRD
      // without objects means. Keep looking for it.
      if (!watched.listed) {
        watched.listed = true;
        this.checkSynced();
      }
      if (!this.crdMissingLogged) {
        this.crdMissingLogged = true;
        this.options.logger.warn({ event: 'access_policy_crd_missing' }, 'the AccessPolicy CRD is not installed; no pod is restricted until it is');
      }
      delay = this.options.crdRetryMs ?? 10_000;
    } else {
      watched.failures++;
      delay = Math.min(30_000, (this.options.restartDelayMs ?? 1000) * 2 ** Math.min(watched.failures - 1, 5));
      this.options.logger.warn({ event: 'discovery_watch_error', kind: watched.kind, code, err: error, retryInMs: delay }, 'cluster watch failed; restarting');
    }
    if (watched.timer) clearTimeout(watched.timer);
    watched.timer = setTimeout(() => {
      watched.timer = undefined;
      void this.run(watched).catch((err: unknown) => this.failed(watched, err));
    }, delay);
    // Retrying alone is no reason to keep the process up; the servers are.
    watched.timer.unref();
  }

  private checkSynced(): void {
    if (this.synced || this.stopped || !this.watched.every((w) => w.listed)) return;
    this.synced = true;
    this.options.logger.info({ event: 'discovery_synced', pods: this.watched.find((w) => w.kind === 'pods')?.informer.list().length }, 'discovery listed the cluster');
    this.options.onSynced();
  }
}
