// client-node's informer stops for good at its first watch error (the API server restarted,
// a connection reset): this one starts again a second later, for as long as it is wanted.
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';

export interface RestartingInformerOptions {
  /** Every error, before the restart. */
  onError(error: Error): void;
  /** True once the owner stopped: no more restarts. */
  stopped(): boolean;
}

/** `path` is the collection path (/api/v1/pods); `list` the matching typed list call. Not started. */
export function restartingInformer<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  options: RestartingInformerOptions,
): Informer<T> & ObjectCache<T> {
  const informer = makeInformer<T>(kubeConfig, path, list);
  const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
  informer.on('error', (error: unknown) => {
    if (options.stopped()) return;
    options.onError(asError(error));
    setTimeout(() => {
      if (!options.stopped()) informer.start().catch((e: unknown) => options.onError(asError(e)));
    }, 1000).unref();
  });
  return informer;
}
