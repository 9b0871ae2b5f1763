// List+watch of one resource for the controller stand-ins: a restarting informer whose
// events go to handlers, started at once.
import { ApiException, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { restartingInformer } from '../kube/restarting-informer.js';

export interface ListWatch {
  /** Resolves once the first list has been delivered. */
  readonly synced: Promise<void>;
  stop(): void;
}

export interface WatchHandlers<T> {
  upsert(object: T): void;
  remove(object: T): void;
  error(error: Error): void;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

export function isConflict(error: unknown): boolean {
  return error instanceof ApiException && error.code === 409;
}

/** `path` is the collection path (/api/v1/pods), `list` the matching typed list call. */
export function watchList<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  handlers: WatchHandlers<T>,
): ListWatch {
  let stopped = false;
  const informer = restartingInformer<T>(kubeConfig, path, list, { onError: handlers.error, stopped: () => stopped });
  let resolveSynced!: () => void;
  const synced = new Promise<void>((resolve) => (resolveSynced = resolve));
  informer.on('add', handlers.upsert);
  informer.on('update', handlers.upsert);
  informer.on('delete', handlers.remove);
  informer.on('connect', () => resolveSynced());
  informer.start().catch((e: unknown) => handlers.error(e as Error));
  return {
    synced,
    stop() {
      stopped = true;
      void informer.stop();
    },
  };
}
