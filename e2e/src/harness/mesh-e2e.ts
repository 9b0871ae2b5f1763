// One machine playing a one-node cluster: a bridge for the pod network, a real etcd and
// kube-apiserver listening on the bridge, the controller-manager stand-ins the e2e needs,
// the pod runner as kubelet, and Reseal installed the way a user installs it:
// `kubectl apply -k manifests/`, then the control plane and injector pods run from the
// manifests' own Deployments.
import { mkdir, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { eventually, startTestCluster, type TestCluster } from '@reseal/test-cluster';

export { eventually };
import { createNodeNetwork, startPodRunner, type NodeNetwork, type PodRunner } from '../runner/index.js';
import { startDeploymentController, type DeploymentController } from './deployment-controller.js';
import { startEndpointsController, type EndpointsController } from './endpoints-controller.js';
import { E2E_IMAGES, REPO_ROOT } from './images.js';
import { kubectlFor, type Kubectl } from './kubectl.js';
import { startNamespaceController, type NamespaceController } from './namespace-controller.js';

export const MESH_NAMESPACE = 'reseal-system';
export const NODE_GATEWAY = '198.18.20.1';

export interface MeshE2eOptions {
  /** Certificate lifetime the injector gives every meshed pod. */
  readonly certTtlSeconds: number;
  /** Where logs of every process go; kept after the run for a failed test to be read. */
  readonly logDir: string;
}

export interface MeshE2e {
  readonly cluster: TestCluster;
  readonly runner: PodRunner;
  readonly network: NodeNetwork;
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly kubectl: Kubectl;
  readonly deployments: DeploymentController;
  readonly logDir: string;
  log(line: string): void;
  /** Resolves with the pod once `predicate` holds for the first pod matching the label selector. */
  waitForPod(namespace: string, labelSelector: string, predicate: (pod: V1Pod) => boolean, timeoutMs?: number): Promise<V1Pod>;
  stop(): Promise<void>;
}

export function isPodReady(pod: V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);
}

export async function startMeshE2e(options: MeshE2eOptions): Promise<MeshE2e> {
  if (process.getuid?.() !== 0) throw new Error('npm run e2e creates network namespaces, a bridge and iptables rules: run it as root');
  await mkdir(options.logDir, { recursive: true });
  const harnessLog = join(options.logDir, 'harness.log');
  const log = (line: string): void => {
    void appendFile(harnessLog, `${new Date().toISOString()} ${line}\n`);
  };
  const cleanups: (() => Promise<void> | void)[] = [];
  const stop = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log(`cleanup: ${(error as Error).message}`);
      }
    }
    cleanups.length = 0;
  };
  try {
    const network = await createNodeNetwork({ bridge: 'rse2e0', gateway: NODE_GATEWAY, prefixLength: 24 });
    cleanups.push(() => network.destroy());
    const cluster = await startTestCluster({
      bindAddress: network.gateway,
      apiServerArgs: [
        // A real cluster's admission chain: ServiceAccount (default SA, kube-api-access volume) on.
        '--disable-admission-plugins=',
        // Call the webhook's Service at its endpoint: there is no kube-proxy for cluster IPs.
        '--enable-aggregator-routing=true',
      ],
    });
    cleanups.push(() => cluster.stop());
    const kubeConfig = cluster.kubeConfig;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const kubectl = kubectlFor(cluster.kubeconfigPath);

    const namespaces: NamespaceController = startNamespaceController(kubeConfig, cluster.caPem, log);
    cleanups.push(() => namespaces.stop());
    const endpoints: EndpointsController = startEndpointsController(kubeConfig, log);
    cleanups.push(() => endpoints.stop());

    const apiPort = Number(new URL(cluster.server).port);
    const runner = await startPodRunner({
      kubeConfig,
      network,
      apiServer: { host: network.gateway, port: apiPort },
      images: E2E_IMAGES,
      logDir: options.logDir,
    });
    cleanups.push(() => runner.stop());

    const waitForPod: MeshE2e['waitForPod'] = (namespace, labelSelector, predicate, timeoutMs = 120_000) =>
      eventually(
        `a pod ${labelSelector} in ${namespace}`,
        async () => (await core.listNamespacedPod({ namespace, labelSelector })).items.find(predicate),
        timeoutMs,
      );

    // The install, as the README tells a user to do it; then the settings of this run.
    await kubectl(['apply', '-k', join(REPO_ROOT, 'manifests')]);
    // One node: one replica of each (two would only compete for the same two cores).
    await kubectl(['-n', MESH_NAMESPACE, 'scale', 'deployment/reseal-control-plane', 'deployment/reseal-injector', '--replicas=1']);
    await kubectl(['-n', MESH_NAMESPACE, 'set', 'env', 'deployment/reseal-injector', `RESEAL_PROXY_CERT_TTL_SECONDS=${options.certTtlSeconds}`]);
    log('manifests applied');
    // Started only now, so that the pods are made from the settings above (no rollouts here).
    const deployments = startDeploymentController(kubeConfig, log);
    cleanups.push(() => deployments.stop());

    await waitForPod(MESH_NAMESPACE, 'app.kubernetes.io/name=reseal-control-plane', isPodReady, 120_000);
    await waitForPod(MESH_NAMESPACE, 'app.kubernetes.io/name=reseal-injector', isPodReady, 120_000);
    const admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    await eventually('the webhook configuration to carry the caBundle', async () => {
      const config = await admission.readMutatingWebhookConfiguration({ name: 'reseal-injector' });
      return config.webhooks?.every((w) => w.clientConfig.caBundle) ? true : undefined;
    }, 60_000, 250);
    log('mesh installed');

    return { cluster, runner, network, kubeConfig, core, kubectl, deployments, logDir: options.logDir, log, waitForPod, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
