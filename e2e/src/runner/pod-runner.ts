// The kubelet stand-in: watches Pods (and the ConfigMaps, Secrets and EndpointSlices they
// depend on) and realises each one with a PodWorker on the node network.
import { execFileSync } from 'node:child_process';
import { readdirSync, realpathSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  DiscoveryV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1ConfigMap,
  type V1EndpointSlice,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { restartingInformer } from '../kube/restarting-informer.js';
import type { ExecResult } from './container-process.js';
import { exitCleanup } from './exit-cleanup.js';
import { serviceAddresses, type ServiceAddress } from './hosts-file.js';
import type { ImageTable } from './image-table.js';
import type { NodeNetwork, PodInterface } from './node-network.js';
import { PodWorker } from './pod-worker.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './restart-backoff.js';
import { fileRunnerLog, type RunnerLog } from './runner-log.js';
import { isAlive } from './shell.js';

export interface PodRunnerOptions {
  /** Admin credentials: the runner reads pods/configmaps/secrets, writes pod status, requests tokens. */
  kubeConfig: KubeConfig;
  network: NodeNetwork;
  /** What containers see as KUBERNETES_SERVICE_HOST/PORT. */
  apiServer: { host: string; port: number };
  images: ImageTable;
  /** Container logs and runner.log go here. */
  logDir: string;
  /** Namespaces whose pods are realised (default: all). */
  namespaces?: string[];
  /** spec.nodeName given to unbound pods; pods bound to another node are ignored. Default 'reseal-e2e-node'. */
  nodeName?: string;
  /** Crash-loop backoff (default 1 s doubling to 10 s). */
  restartBackoff?: BackoffOptions;
  /** Cap on terminationGracePeriodSeconds, ms (default 10 000). */
  maxTerminationGraceMs?: number;
  /**
   * Host paths the image table runs from. Containers get private /tmp and /run; those of
   * these paths that lie there are bound back in. Default: the repository holding this
   * runner and the Node binary's directory.
   */
  hostPaths?: string[];
}

export interface PodRunner {
  /** The pod's IP; throws if the runner has no live sandbox for it (yet). */
  podAddress(namespace: string, name: string): string;
  /** The host-side veth of the pod, for tcpdump; throws like podAddress. */
  hostLink(namespace: string, name: string): string;
  /** The pod's network namespace (for `ip netns exec`); throws like podAddress. */
  netns(namespace: string, name: string): string;
  /** Like kubectl exec: inside the container's network, mounts and user. */
  exec(namespace: string, name: string, container: string, argv: string[], options?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Simulates a crash; the container is restarted per restartPolicy. */
  killContainer(namespace: string, name: string, container: string, signal?: NodeJS.Signals): void;
  containerLogPath(namespace: string, name: string, container: string): string;
  /** Polls the API until predicate(pod) holds; rejects after timeoutMs with the last status seen. */
  waitForPod(namespace: string, name: string, predicate: (pod: V1Pod) => boolean, timeoutMs?: number): Promise<V1Pod>;
  waitForPodReady(namespace: string, name: string, timeoutMs?: number): Promise<V1Pod>;
  /** Resolves when the Pod object no longer exists. */
  waitForPodGone(namespace: string, name: string, timeoutMs?: number): Promise<void>;
  readonly logFile: string;
  /** Tears down every pod it realised (SIGTERM, SIGKILL after a short grace), their netns, veths and dirs. */
  stop(): Promise<void>;
}

const STATE_PREFIX = 'rse2e-';
const STATE_PARENT = '/var/tmp';

/** Pod state dirs (volumes, scripts) of runners that died without stop(). */
async function removeAbandonedStateDirs(): Promise<void> {
  for (const name of readdirSync(STATE_PARENT)) {
    const m = /^rse2e-(\d+)-/.exec(name);
    if (m && !isAlive(Number(m[1]))) await rm(join(STATE_PARENT, name), { recursive: true, force: true });
  }
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function isTerminalPhase(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function summary(pod: V1Pod | undefined): string {
  if (!pod) return '(pod not found)';
  const s = pod.status;
  const states = [...(s?.initContainerStatuses ?? []), ...(s?.containerStatuses ?? [])].map((c) => `${c.name}:${Object.keys(c.state ?? {})[0] ?? '?'}${c.state?.waiting?.reason ? `(${c.state.waiting.reason}: ${c.state.waiting.message ?? ''})` : ''}${c.state?.terminated ? `(${c.state.terminated.exitCode})` : ''} ready=${c.ready} restarts=${c.restartCount}`);
  return `phase=${s?.phase} reason=${s?.reason ?? ''} message=${s?.message ?? ''} conditions=${(s?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(',')} containers=[${states.join('; ')}]`;
}

export async function startPodRunner(options: PodRunnerOptions): Promise<PodRunner> {
  if (process.getuid?.() !== 0) throw new Error('the pod runner creates network namespaces and mounts: run it as root');
  await mkdir(options.logDir, { recursive: true });
  const logFile = join(options.logDir, 'runner.log');
  const log: RunnerLog = fileRunnerLog(logFile);
  await removeAbandonedStateDirs();
  const stateRoot = await mkdtemp(join(STATE_PARENT, `${STATE_PREFIX}${process.pid}-`));
  // containers running as non-root read their volumes through here
  await chmod(stateRoot, 0o755);
  exitCleanup.addDir(stateRoot);

  const kc = options.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const nodeName = options.nodeName ?? 'reseal-e2e-node';
  const setprivPath = execFileSync('bash', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).trim();
  const namespaces = options.namespaces;
  const wanted = (ns: string | undefined): boolean => !namespaces || (ns !== undefined && namespaces.includes(ns));

  const workers = new Map<string, PodWorker>(); // by uid
  let stopped = false;
  let services: ServiceAddress[] = [];

  const informers: Informer<KubernetesObject>[] = [];
  function watch<T extends KubernetesObject>(what: string, path: string, list: () => Promise<KubernetesListObject<T>>): Informer<T> & ObjectCache<T> {
    const informer = restartingInformer<T>(kc, path, list, {
      onError: (error) => log.warn('watch_error', { what, error }),
      stopped: () => stopped,
    });
    informers.push(informer as unknown as Informer<KubernetesObject>);
    return informer;
  }

  function scoped<T extends KubernetesObject>(what: string, clusterPath: string, nsPath: (ns: string) => string, listAll: () => Promise<KubernetesListObject<T>>, listNs: (ns: string) => Promise<KubernetesListObject<T>>): (Informer<T> & ObjectCache<T>)[] {
    if (!namespaces) return [watch(what, clusterPath, listAll)];
    return namespaces.map((ns) => watch(`${what} in ${ns}`, nsPath(ns), () => listNs(ns)));
  }

  const configMapInformers = scoped<V1ConfigMap>('configmaps', '/api/v1/configmaps', (ns) => `/api/v1/namespaces/${ns}/configmaps`, () => core.listConfigMapForAllNamespaces(), (ns) => core.listNamespacedConfigMap({ namespace: ns }));
  const secretInformers = scoped<V1Secret>('secrets', '/api/v1/secrets', (ns) => `/api/v1/namespaces/${ns}/secrets`, () => core.listSecretForAllNamespaces(), (ns) => core.listNamespacedSecret({ namespace: ns }));
  // services are resolvable across namespaces, so EndpointSlices are watched everywhere
  const sliceInformer = watch<V1EndpointSlice>('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces());
  const podInformers = scoped<V1Pod>('pods', '/api/v1/pods', (ns) => `/api/v1/namespaces/${ns}/pods`, () => core.listPodForAllNamespaces(), (ns) => core.listNamespacedPod({ namespace: ns }));

  const configMap = (ns: string, name: string): V1ConfigMap | undefined => {
    for (const i of configMapInformers) {
      const found = i.get(name, ns);
      if (found) return found;
    }
    return undefined;
  };
  const secret = (ns: string, name: string): V1Secret | undefined => {
    for (const i of secretInformers) {
      const found = i.get(name, ns);
      if (found) return found;
    }
    return undefined;
  };

  const workerDeps = {
    core,
    network: options.network,
    images: options.images,
    apiServer: options.apiServer,
    logDir: options.logDir,
    stateRoot,
    nodeName,
    log,
    configMap,
    secret,
    services: () => services,
    backoff: options.restartBackoff ?? DEFAULT_BACKOFF,
    maxGraceMs: options.maxTerminationGraceMs ?? 10_000,
    setprivPath,
    keepVisible: coveredHostPaths(options.hostPaths ?? [fileURLToPath(new URL('../../../', import.meta.url)), dirname(realpathSync(process.execPath))]),
  };

  async function confirmDeletionOfUnrealised(pod: V1Pod): Promise<void> {
    try {
      await core.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid ?? '' } } });
      log.info('pod_deleted', { pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, realised: false });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== 404 && code !== 409) log.warn('pod_delete_failed', { pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, error: err as Error });
    }
  }

  function onPod(pod: V1Pod): void {
    if (stopped) return;
    const uid = pod.metadata?.uid;
    if (!uid || !wanted(pod.metadata?.namespace)) return;
    if (pod.spec?.nodeName && pod.spec.nodeName !== nodeName) return;
    try {
      const existing = workers.get(uid);
      if (existing) {
        existing.update(pod);
        if (pod.metadata?.deletionTimestamp && !existing.isTerminating) {
          void existing.terminate('deleted').finally(() => workers.delete(uid));
        }
        return;
      }
      if (pod.metadata?.deletionTimestamp) {
        // never realised here (e.g. deleted while the runner was stopped): just confirm
        void confirmDeletionOfUnrealised(pod);
        return;
      }
      if (isTerminalPhase(pod)) return;
      const worker = new PodWorker(pod, workerDeps);
      workers.set(uid, worker);
      log.info('pod_admitted', { pod: worker.key, uid });
      worker.start();
    } catch (err) {
      log.error('pod_event_failed', { pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, error: err as Error });
    }
  }

  function onPodGone(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    const worker = uid ? workers.get(uid) : undefined;
    if (!worker || !uid) return;
    void worker.terminate('gone').finally(() => workers.delete(uid));
  }

  const configChanged = (obj: KubernetesObject): void => {
    for (const w of workers.values()) if (w.namespace === obj.metadata?.namespace) w.configChanged();
  };
  for (const i of [...configMapInformers, ...secretInformers] as Informer<KubernetesObject>[]) {
    i.on('add', configChanged);
    i.on('update', configChanged);
    i.on('delete', configChanged);
  }
  const slicesChanged = (): void => {
    const next = serviceAddresses(sliceInformer.list());
    if (JSON.stringify(next) === JSON.stringify(services)) return;
    services = next;
    for (const w of workers.values()) {
      w.servicesChanged().catch((err: unknown) => log.warn('hosts_update_failed', { pod: w.key, error: err as Error }));
    }
  };
  sliceInformer.on('add', slicesChanged);
  sliceInformer.on('update', slicesChanged);
  sliceInformer.on('delete', slicesChanged);
  for (const i of podInformers) {
    i.on('add', onPod);
    i.on('update', onPod);
    i.on('delete', onPodGone);
  }

  // dependencies first, so the first pods find their ConfigMaps, Secrets and Services
  await Promise.all([...configMapInformers, ...secretInformers, sliceInformer].map((i) => i.start()));
  slicesChanged();
  await Promise.all(podInformers.map((i) => i.start()));
  log.info('runner_started', { nodeName, namespaces: namespaces?.join(',') ?? '(all)', bridge: options.network.bridge, stateRoot });

  const live = (ns: string, name: string): PodWorker | undefined => {
    let found: PodWorker | undefined;
    for (const w of workers.values()) {
      if (w.namespace === ns && w.name === name && !w.isTerminating) found = w;
    }
    return found;
  };
  const required = (ns: string, name: string): PodWorker => {
    const w = live(ns, name);
    if (!w) throw new Error(`the runner has no live pod ${ns}/${name}`);
    return w;
  };

  const sandbox = (ns: string, name: string): PodInterface => {
    const iface = required(ns, name).sandbox;
    if (!iface) throw new Error(`pod ${ns}/${name} has no sandbox (network) yet`);
    return iface;
  };

  const readPod = async (ns: string, name: string): Promise<V1Pod | undefined> => {
    try {
      return await core.readNamespacedPod({ name, namespace: ns });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };

  let stopping: Promise<void> | undefined;
  const runner: PodRunner = {
    logFile,
    podAddress: (ns, name) => sandbox(ns, name).address,
    hostLink: (ns, name) => sandbox(ns, name).hostLink,
    netns: (ns, name) => sandbox(ns, name).netns,
    exec: (ns, name, container, argv, opts = {}) => required(ns, name).exec(container, argv, opts.timeoutMs ?? 30_000),
    killContainer: (ns, name, container, signal = 'SIGKILL') => required(ns, name).killContainer(container, signal),
    containerLogPath: (ns, name, container) => join(options.logDir, `${ns}_${name}_${container}.log`),
    async waitForPod(ns, name, predicate, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let last: V1Pod | undefined;
      for (;;) {
        try {
          last = await readPod(ns, name);
          if (last && predicate(last)) return last;
        } catch {
          // transient API error: try again
        }
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for pod ${ns}/${name}: ${summary(last)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    waitForPodReady(ns, name, timeoutMs) {
      return runner.waitForPod(ns, name, isReady, timeoutMs);
    },
    async waitForPodGone(ns, name, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while ((await readPod(ns, name).catch(() => ({}) as V1Pod)) !== undefined) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for pod ${ns}/${name} to be deleted`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        await Promise.all(informers.map((i) => i.stop().catch(() => undefined)));
        await Promise.all([...workers.values()].map((w) => w.terminate('stop', 1000).catch((err: unknown) => log.error('pod_stop_failed', { pod: w.key, error: err as Error }))));
        workers.clear();
        await rm(stateRoot, { recursive: true, force: true });
        exitCleanup.removeDir(stateRoot);
        log.info('runner_stopped');
      })();
      return stopping;
    },
  };
  return runner;
}

/** The given paths that a container's private /tmp or /run would hide, without nested duplicates. */
function coveredHostPaths(paths: string[]): string[] {
  const covered = [...new Set(paths.map((p) => resolve(realpathSync(p))))].filter((p) => /^\/(tmp|run)\//.test(`${p}/`) && p !== '/tmp' && p !== '/run');
  return covered.filter((p) => !covered.some((other) => other !== p && p.startsWith(`${other}/`)));
}
