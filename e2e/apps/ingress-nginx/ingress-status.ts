// status.loadBalancer.ingress[0].ip = the pod IP, as ingress-nginx publishes its address
// (ours: no Service in front). Best effort: a failure is logged and retried on the next sync.
import type { NetworkingV1Api, V1Ingress } from '@kubernetes/client-node';
import type { Log } from './log.js';

export class IngressStatusWriter {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly api: NetworkingV1Api,
    private readonly podIp: string,
    private readonly log: Log,
    /** Called a while after a failure, to try again even if nothing changes. */
    private readonly retry: () => void,
  ) {}

  /** Updates every Ingress whose status is not exactly our address; returns without waiting. */
  update(ingresses: readonly V1Ingress[]): void {
    for (const ingress of ingresses) {
      const current = ingress.status?.loadBalancer?.ingress ?? [];
      if (current.length === 1 && current[0]?.ip === this.podIp && !current[0].hostname) continue;
      const name = ingress.metadata?.name ?? '';
      const namespace = ingress.metadata?.namespace ?? '';
      const key = `${namespace}/${name}`;
      if (this.inFlight.has(key)) continue;
      this.inFlight.add(key);
      const body: V1Ingress = { ...ingress, status: { loadBalancer: { ingress: [{ ip: this.podIp }] } } };
      this.api
        .replaceNamespacedIngressStatus({ name, namespace, body })
        .then(
          () => this.log.info({ event: 'ingress_status_updated', ingress: key, ip: this.podIp }, 'ingress status updated'),
          (error: unknown) => {
            const e = error as { code?: number; message?: string };
            this.log.warn(
              { event: 'ingress_status_failed', ingress: key, code: e.code, err: String(e.message ?? error).split('\n')[0] },
              'could not update ingress status',
            );
            setTimeout(this.retry, 5000).unref();
          },
        )
        .finally(() => this.inFlight.delete(key));
    }
  }
}
