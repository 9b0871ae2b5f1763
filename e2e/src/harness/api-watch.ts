// List+watch of one resource path through client-node's informer, restarted after errors
// (an informer stops for good on its first watch error).
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { ApiException, makeInformer, type KubeConfig, type KubernetesObject, type ListPromise } from '@kubernetes/client-node';

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

/** `path` is a collection path such as /api/v1/pods or /apis/networking.k8s.io/v1/ingresses. */
export function watchList<T extends KubernetesObject>(kubeConfig: KubeConfig, path: string, handlers: WatchHandlers<T>): ListWatch {
  const list: ListPromise<T> = () => fetchList<T>(kubeConfig, path);
  const informer = makeInformer<T>(kubeConfig, path, list);
  let stopped = false;
  let resolveSynced!: () => void;
  const synced = new Promise<void>((resolve) => (resolveSynced = resolve));
  informer.on('add', handlers.upsert);
  informer.on('update', handlers.upsert);
  informer.on('delete', handlers.remove);
  informer.on('connect', () => resolveSynced());
  informer.on('error', (error: unknown) => {
    if (stopped) return;
    handlers.error(error instanceof Error ? error : new Error(String(error)));
    setTimeout(() => {
      if (!stopped) informer.start().catch((e: unknown) => handlers.error(e as Error));
    }, 1000).unref();
  });
  informer.start().catch((e: unknown) => handlers.error(e as Error));
  return {
    synced,
    stop() {
      stopped = true;
      void informer.stop();
    },
  };
}

/** The list call an informer needs, for any path, through the KubeConfig's own TLS and auth. */
async function fetchList<T extends KubernetesObject>(kubeConfig: KubeConfig, path: string): Promise<{ apiVersion?: string; kind?: string; metadata?: { resourceVersion?: string }; items: T[] }> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const options: RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(options);
  const url = new URL(path, cluster.server);
  return new Promise((resolve, reject) => {
    const request = httpsRequest(url, { ...options, method: 'GET', timeout: 15_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (response.statusCode !== 200) {
          reject(new Error(`GET ${path}: ${response.statusCode} ${body.slice(0, 200)}`));
          return;
        }
        try {
          resolve(JSON.parse(body) as { items: T[] });
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${path}: timed out`)));
    request.on('error', reject);
    request.end();
  });
}
