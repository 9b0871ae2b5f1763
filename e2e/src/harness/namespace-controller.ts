// What kube-controller-manager does for every namespace and the e2e relies on: the
// `default` ServiceAccount (the ServiceAccount admission plugin refuses pods without it)
// and the `kube-root-ca.crt` ConfigMap (every pod's kube-api-access volume projects it).
import { CoreV1Api, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import { isConflict, watchList, type ListWatch } from './api-watch.js';

export interface NamespaceController {
  readonly synced: Promise<void>;
  stop(): void;
}

export function startNamespaceController(kubeConfig: KubeConfig, clusterCaPem: string, log: (line: string) => void): NamespaceController {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const done = new Set<string>();

  async function ensure(namespace: string): Promise<void> {
    for (const create of [
      () => core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'default' } } }),
      () => core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': clusterCaPem } } }),
    ]) {
      try {
        await create();
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }

  const watch: ListWatch = watchList<V1Namespace>(kubeConfig, '/api/v1/namespaces', () => core.listNamespace(), {
    upsert(namespace) {
      const name = namespace.metadata?.name;
      if (!name || done.has(name) || namespace.status?.phase === 'Terminating') return;
      done.add(name);
      ensure(name).catch((error: unknown) => {
        done.delete(name);
        log(`namespace controller ${name}: ${(error as Error).message}`);
      });
    },
    remove(namespace) {
      done.delete(namespace.metadata?.name ?? '');
    },
    error: (error) => log(`namespace controller watch: ${error.message}`),
  });
  return { synced: watch.synced, stop: () => watch.stop() };
}
