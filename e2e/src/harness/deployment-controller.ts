// The Deployment → ReplicaSet → Pod chain, reduced to one step: keep `spec.replicas` live
// pods from each Deployment's template, as a ReplicaSet would. A pod refused at admission
// (the webhook is down and fails closed) is retried with backoff and the refusal logged,
// which is what `kubectl describe rs` would show as FailedCreate. No rollouts: a template
// changed after its pods exist does not replace them.
import { randomBytes } from 'node:crypto';
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { watchList, type ListWatch } from './api-watch.js';

export interface DeploymentController {
  /** The last admission refusal per Deployment ("namespace/name"), if its latest create failed. */
  lastCreateError(namespace: string, name: string): string | undefined;
  stop(): void;
}

export function startDeploymentController(kubeConfig: KubeConfig, log: (line: string) => void): DeploymentController {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const deployments = new Map<string, V1Deployment>();
  const pods = new Map<string, V1Pod>();
  const createErrors = new Map<string, string>();
  const backoffUntil = new Map<string, number>();
  const failures = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  let stopped = false;

  const key = (o: { metadata?: { namespace?: string; name?: string } }): string => `${o.metadata?.namespace}/${o.metadata?.name}`;

  function ownedLivePods(deployment: V1Deployment): V1Pod[] {
    const uid = deployment.metadata?.uid;
    return [...pods.values()].filter(
      (p) =>
        p.metadata?.ownerReferences?.some((o) => o.uid === uid) &&
        !p.metadata?.deletionTimestamp &&
        p.status?.phase !== 'Failed' &&
        p.status?.phase !== 'Succeeded',
    );
  }

  async function reconcile(): Promise<void> {
    for (const deployment of deployments.values()) {
      const id = key(deployment);
      if ((backoffUntil.get(id) ?? 0) > Date.now()) continue;
      const want = deployment.spec?.replicas ?? 1;
      const live = ownedLivePods(deployment);
      const namespace = deployment.metadata?.namespace ?? 'default';
      for (let i = live.length; i < want; i++) {
        const template = deployment.spec?.template;
        const body: V1Pod = {
          metadata: {
            name: `${deployment.metadata?.name}-${randomBytes(4).toString('hex').slice(0, 5)}`,
            namespace,
            labels: template?.metadata?.labels,
            annotations: template?.metadata?.annotations,
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata?.name ?? '', uid: deployment.metadata?.uid ?? '', controller: true }],
          },
          spec: template?.spec,
        };
        try {
          const created = await core.createNamespacedPod({ namespace, body });
          pods.set(key(created), created);
          createErrors.delete(id);
          failures.delete(id);
          log(`deployment ${id}: created pod ${created.metadata?.name}`);
        } catch (error) {
          const message = errorMessage(error);
          createErrors.set(id, message);
          const n = (failures.get(id) ?? 0) + 1;
          failures.set(id, n);
          backoffUntil.set(id, Date.now() + Math.min(500 * 2 ** (n - 1), 5000));
          log(`deployment ${id}: FailedCreate: ${message}`);
          setTimeout(schedule, Math.min(500 * 2 ** (n - 1), 5000) + 10).unref();
          break;
        }
      }
      for (const extra of live.slice(want)) {
        await core.deleteNamespacedPod({ name: extra.metadata?.name ?? '', namespace }).catch(() => undefined);
      }
    }
  }

  function schedule(): void {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (busy) {
        schedule();
        return;
      }
      busy = true;
      reconcile()
        .catch((error: unknown) => log(`deployment controller: ${errorMessage(error)}`))
        .finally(() => {
          busy = false;
        });
    }, 100);
  }

  const watches: ListWatch[] = [
    watchList<V1Deployment>(kubeConfig, '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces(), {
      upsert: (d) => {
        deployments.set(key(d), d);
        schedule();
      },
      remove: (d) => {
        deployments.delete(key(d));
      },
      error: (e) => log(`deployment watch: ${e.message}`),
    }),
    watchList<V1Pod>(kubeConfig, '/api/v1/pods', () => core.listPodForAllNamespaces(), {
      upsert: (p) => {
        pods.set(key(p), p);
        schedule();
      },
      remove: (p) => {
        pods.delete(key(p));
        schedule();
      },
      error: (e) => log(`deployment controller pod watch: ${e.message}`),
    }),
  ];

  return {
    lastCreateError: (namespace, name) => createErrors.get(`${namespace}/${name}`),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const w of watches) w.stop();
    },
  };
}

/** The API server's own message (an admission refusal names the webhook and its error). */
export function errorMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return status.message;
    } catch {
      return body;
    }
  }
  return (error as Error).message;
}
