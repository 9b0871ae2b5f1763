// A list+watch cache of one resource in all namespaces: client-node's ListWatch, which
// re-lists on 410 and re-watches on timeouts but stops for good on any other error; this
// restarts it with a backoff and says when the first list has been loaded.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Log } from './log.js';

export interface ResourceWatchOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** e.g. `/apis/networking.k8s.io/v1/ingresses` */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  log: Log;
  /** Called after every add, update and delete, and when the first list is in. */
  onChange: () => void;
}

export class ResourceWatch<T extends KubernetesObject> {
  private readonly listWatch: ListWatch<T>;
  private stopped = false;
  private syncedFlag = false;
  private failedSinceStart = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;

  constructor(private readonly options: ResourceWatchOptions<T>) {
    this.listWatch = new ListWatch<T>(
      options.path,
      new Watch(options.kubeConfig),
      options.list,
      false,
      options.labelSelector,
      options.fieldSelector,
    );
    const changed = (): void => {
      this.backoffMs = 0;
      if (this.syncedFlag) options.onChange();
    };
    this.listWatch.on('add', changed);
    this.listWatch.on('update', changed);
    this.listWatch.on('delete', changed);
    this.listWatch.on('error', (error: unknown) => this.failed(error));
  }

  /** Whether the first list has been loaded; stays true across later re-watches. */
  get synced(): boolean {
    return this.syncedFlag;
  }

  list(): readonly T[] {
    return this.listWatch.list();
  }

  start(): void {
    this.failedSinceStart = false;
    this.listWatch.start().then(
      () => {
        if (this.stopped || this.failedSinceStart) return;
        if (!this.syncedFlag) {
          this.syncedFlag = true;
          this.options.log.info({ event: 'watch_synced', resource: this.options.path, count: this.list().length }, 'resource listed');
          this.options.onChange();
        }
      },
      (error: unknown) => this.failed(error),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.listWatch.stop();
  }

  private failed(error: unknown): void {
    this.failedSinceStart = true;
    if (this.stopped || this.restartTimer) return;
    this.backoffMs = Math.min(this.backoffMs ? this.backoffMs * 2 : 1000, 30_000);
    this.options.log.warn(
      { event: 'watch_failed', resource: this.options.path, retryInMs: this.backoffMs, err: describe(error) },
      'list/watch failed, retrying',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.start();
    }, this.backoffMs);
  }
}

/** The status code and a short message, never a response body (a Secret list could be one). */
function describe(error: unknown): { code?: number; message: string } {
  const e = error as { code?: number; statusCode?: number; message?: string };
  const code = e.code ?? e.statusCode;
  const message = String(e.message ?? error).split('\n')[0]!.slice(0, 200);
  return typeof code === 'number' ? { code, message } : { message };
}
