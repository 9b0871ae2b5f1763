import { CoreV1Api, makeInformer, type KubeConfig, type V1ConfigMap, type V1Namespace, type Informer, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { httpStatusOf } from '../kubernetes/api-errors.js';

export const TRUST_BUNDLE_CONFIGMAP = 'reseal-trust-bundle';
export const TRUST_BUNDLE_KEY = 'ca-bundle.pem';
export const INJECT_LABEL_SELECTOR = 'reseal.dev/inject=enabled';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'reseal-control-plane' };

/** A ConfigMap written (created or replaced), or an attempt to write one that failed. */
export type TrustBundlePublishResult = 'ok' | 'failed';

/**
 * Keeps ConfigMap `reseal-trust-bundle` in every namespace labelled for injection equal to
 * the mesh's current roots. Sidecars mount it and reload it, so a new root reaches every
 * pod without a restart. A namespace watch handles new namespaces at once; a periodic
 * resync repairs ConfigMaps someone edited or deleted.
 */
export class TrustBundlePublisher {
  private readonly api: CoreV1Api;
  private informer: (Informer<V1Namespace> & ObjectCache<V1Namespace>) | undefined;
  private bundlePem: string;
  private readonly pending = new Map<string, Promise<void>>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly kubeConfig: KubeConfig,
    bundlePem: string,
    private readonly logger: Logger,
    private readonly resyncMs = 30_000,
    /**
     * Hears of every write and every failed attempt (a 409 from a concurrent writer is not a
     * failure); resyncs that find the bundle in place are not reported.
     */
    private readonly onPublished: (result: TrustBundlePublishResult) => void = () => undefined,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    this.bundlePem = bundlePem;
  }

  async start(): Promise<void> {
    const informer = makeInformer<V1Namespace>(
      this.kubeConfig,
      '/api/v1/namespaces',
      () => this.api.listNamespace({ labelSelector: INJECT_LABEL_SELECTOR }),
      INJECT_LABEL_SELECTOR,
    );
    informer.on('add', (ns) => this.publishTo(ns.metadata?.name));
    informer.on('update', (ns) => this.publishTo(ns.metadata?.name));
    informer.on('error', (error: unknown) => {
      if (this.stopped) return;
      this.logger.warn({ event: 'trust_bundle_watch_error', err: error }, 'namespace watch failed; restarting');
      this.restartTimer = setTimeout(() => void informer.start().catch(() => undefined), 2000);
    });
    this.informer = informer;
    await informer.start();
    this.resyncTimer = setInterval(() => this.publishAll(), this.resyncMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.informer?.stop();
    await Promise.allSettled([...this.pending.values()]);
  }

  /** A new bundle (root added or removed): publish it everywhere. */
  update(bundlePem: string): void {
    if (bundlePem === this.bundlePem) return;
    this.bundlePem = bundlePem;
    this.logger.info({ event: 'trust_bundle_changed' }, 'trust bundle changed; publishing');
    this.publishAll();
  }

  /** Settles when every publication started so far is done (for tests and shutdown). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.pending.values()]);
  }

  private publishAll(): void {
    for (const ns of this.informer?.list() ?? []) this.publishTo(ns.metadata?.name);
  }

  /** Publications to one namespace run one after another so they never race each other. */
  private publishTo(namespace: string | undefined): void {
    if (!namespace || this.stopped) return;
    const previous = this.pending.get(namespace) ?? Promise.resolve();
    const next = previous
      .then(() => this.ensure(namespace))
      .then((wrote) => {
        if (wrote) this.report('ok');
      })
      .catch((error: unknown) => {
        this.logger.warn({ event: 'trust_bundle_publish_failed', namespace, err: error }, 'could not publish trust bundle');
        // 409: another writer (usually the other replica, publishing the same bundle) got
        // there first; the next resync checks the result. Not a failure to alert on.
        if (httpStatusOf(error) !== 409) this.report('failed');
      })
      .finally(() => {
        if (this.pending.get(namespace) === next) this.pending.delete(namespace);
      });
    this.pending.set(namespace, next);
  }

  private report(result: TrustBundlePublishResult): void {
    try {
      this.onPublished(result);
    } catch {
      // Observing a publication never affects it.
    }
  }

  /** True when it wrote the ConfigMap, false when it already held the bundle. */
  private async ensure(namespace: string): Promise<boolean> {
    const bundlePem = this.bundlePem;
    let existing: V1ConfigMap | undefined;
    try {
      existing = await this.api.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace });
    } catch (error) {
      if (httpStatusOf(error) !== 404) throw error;
    }
    if (!existing) {
      await this.api.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: TRUST_BUNDLE_CONFIGMAP, namespace, labels: MANAGED_BY }, data: { [TRUST_BUNDLE_KEY]: bundlePem } },
      });
      this.logger.info({ event: 'trust_bundle_published', namespace, created: true }, 'trust bundle published');
      return true;
    }
    if (existing.data?.[TRUST_BUNDLE_KEY] === bundlePem) return false;
    // Replace with the read resourceVersion: a concurrent writer makes this fail with 409 and
    // the next resync tries again, rather than silently overwriting.
    await this.api.replaceNamespacedConfigMap({
      name: TRUST_BUNDLE_CONFIGMAP,
      namespace,
      body: { ...existing, data: { ...existing.data, [TRUST_BUNDLE_KEY]: bundlePem } },
    });
    this.logger.info({ event: 'trust_bundle_published', namespace, created: false }, 'trust bundle published');
    return true;
  }
}
