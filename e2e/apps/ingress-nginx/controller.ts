// The controller: four watches (Ingresses, TLS Secrets, Services, EndpointSlices) feed
// build-model → render-config; a changed config is tested with `nginx -t`, then made live
// by starting nginx or reloading it (SIGHUP), debounced. A config nginx rejects is logged
// and the previous one keeps serving. Kubernetes comes in as a KubeConfig, so tests can
// run this against an admin config and main.ts against the in-cluster one.
import { rename } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { join } from 'node:path';
import {
  CoreV1Api,
  DiscoveryV1Api,
  NetworkingV1Api,
  type KubeConfig,
  type V1EndpointSlice,
  type V1Ingress,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import { openAccessLog } from './access-log.js';
import { buildModel, ingressesOfClass, SERVICE_NAME_LABEL, type ModelWarning } from './build-model.js';
import type { ControllerConfig } from './config.js';
import { IngressStatusWriter } from './ingress-status.js';
import type { Log } from './log.js';
import type { NginxModel } from './model.js';
import { startNginx, testConfig, type NginxMaster, type NginxPaths } from './nginx-process.js';
import { renderConfig, type RenderOptions } from './render-config.js';
import { ResourceWatch } from './resource-watch.js';
import { startStatusServer } from './status-server.js';
import { atomicWrite, prepareWorkDir, removeCertificatesExcept, writeCertificates } from './work-dir.js';

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  config: ControllerConfig;
  log: Log;
  /** nginx's `user` directive (worker-user.ts); absent when nginx does not start as root. */
  workerUser?: { user: string; group: string };
  /** nginx exited on its own: nothing is served any more. main.ts exits non-zero. */
  onFatal: (error: Error) => void;
  /** nginx's access log lines (JSON); default: copied to stdout. */
  onAccessLog?: (line: string) => void;
}

export interface Controller {
  /** undefined when ready (the /healthz answer), else why not. */
  notReadyReason(): string | undefined;
  /** The config nginx is running, once there is one. */
  liveConfig(): string | undefined;
  /** How many configs have been made live (the first start counts). */
  applied(): number;
  /** The status server's port (STATUS_PORT, or the one picked for 0). */
  statusPort: number;
  /** Stops watching, stops nginx gracefully, closes the status server. Idempotent. */
  stop(): Promise<void>;
}

export async function startController(options: ControllerOptions): Promise<Controller> {
  const { kubeConfig, config, log } = options;
  await prepareWorkDir(config.workDir);
  const accessLog = await openAccessLog(config.workDir, options.onAccessLog ?? ((line) => process.stdout.write(line + '\n')));

  const paths: NginxPaths = { binary: config.nginxBinary, workDir: config.workDir, confPath: join(config.workDir, 'nginx.conf') };
  const renderOptions: RenderOptions = {
    workDir: config.workDir,
    httpPort: config.httpPort,
    httpsPort: config.httpsPort,
    ...(config.listenAddress ? { listenAddress: config.listenAddress } : {}),
    ...(options.workerUser ? { workerUser: options.workerUser } : {}),
  };

  let stopped = false;
  let master: NginxMaster | undefined;
  let liveText: string | undefined;
  let liveModel: NginxModel | undefined;
  let rejectedText: string | undefined;
  let lastWarnings = '[]';
  let appliedCount = 0;
  let debounce: NodeJS.Timeout | undefined;
  let syncing: Promise<void> | undefined;
  let syncAgain = false;

  const schedule = (): void => {
    if (stopped || !watches.every((w) => w.synced)) return;
    clearTimeout(debounce);
    debounce = setTimeout(runSync, config.reloadDebounceMs);
  };
  const runSync = (): void => {
    if (stopped) return;
    if (syncing) {
      syncAgain = true;
      return;
    }
    syncing = sync()
      .catch((error: unknown) => log.error({ event: 'sync_failed', err: error }, 'sync failed'))
      .finally(() => {
        syncing = undefined;
        if (syncAgain) {
          syncAgain = false;
          schedule();
        }
      });
  };

  const core = kubeConfig.makeApiClient(CoreV1Api);
  const networking = kubeConfig.makeApiClient(NetworkingV1Api);
  const discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
  const statusWriter = config.podIp ? new IngressStatusWriter(networking, config.podIp, log, schedule) : undefined;

  const ingresses = new ResourceWatch<V1Ingress>({
    kubeConfig, log, onChange: schedule,
    path: '/apis/networking.k8s.io/v1/ingresses',
    list: () => networking.listIngressForAllNamespaces(),
  });
  const tlsSelector = 'type=kubernetes.io/tls';
  const secrets = new ResourceWatch<V1Secret>({
    kubeConfig, log, onChange: schedule,
    path: '/api/v1/secrets',
    fieldSelector: tlsSelector,
    list: () => core.listSecretForAllNamespaces({ fieldSelector: tlsSelector }),
  });
  const services = new ResourceWatch<V1Service>({
    kubeConfig, log, onChange: schedule,
    path: '/api/v1/services',
    list: () => core.listServiceForAllNamespaces(),
  });
  const endpointSlices = new ResourceWatch<V1EndpointSlice>({
    kubeConfig, log, onChange: schedule,
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    labelSelector: SERVICE_NAME_LABEL,
    list: () => discovery.listEndpointSliceForAllNamespaces({ labelSelector: SERVICE_NAME_LABEL }),
  });
  const watches = [ingresses, secrets, services, endpointSlices];

  async function sync(): Promise<void> {
    const state = {
      ingresses: ingresses.list(),
      secrets: secrets.list(),
      services: services.list(),
      endpointSlices: endpointSlices.list(),
    };
    const built = buildModel(state, config.ingressClass);
    logWarnings(built.warnings);
    statusWriter?.update(ingressesOfClass(state.ingresses, config.ingressClass));

    const text = renderConfig(built.model, renderOptions);
    if (text === liveText || text === rejectedText) return;
    await writeCertificates(config.workDir, built.certificates);
    const candidate = join(config.workDir, 'nginx.conf.candidate');
    await atomicWrite(candidate, text, 0o644);
    const test = await testConfig(paths, candidate);
    if (!test.ok) {
      rejectedText = text;
      log.error({ event: 'nginx_config_rejected', output: test.output }, 'nginx -t rejected the new config; the previous one keeps serving');
      return;
    }
    if (stopped) return;
    await rename(candidate, paths.confPath);
    const summary = {
      servers: built.model.servers.map((s) => s.host),
      upstreams: Object.fromEntries(built.model.upstreams.map((u) => [u.name, u.addresses])),
    };
    if (master) {
      master.reload();
      log.info({ event: 'nginx_reloaded', ...summary }, 'nginx reloaded');
    } else {
      try {
        master = await startNginx(paths, { log });
      } catch (error) {
        // a port taken, a missing binary: nothing a later sync would fix
        log.error({ event: 'nginx_start_failed', err: error }, 'nginx did not start');
        options.onFatal(error as Error);
        return;
      }
      const started = master;
      log.info({ event: 'nginx_started', pid: started.pid, ...summary }, 'nginx started');
      void started.exited.then(({ code, signal }) => {
        if (stopped) return;
        log.error({ event: 'nginx_exited', code, signal }, 'nginx exited on its own');
        options.onFatal(new Error(`nginx exited (code ${code}, signal ${signal})`));
      });
    }
    liveText = text;
    liveModel = built.model;
    rejectedText = undefined;
    appliedCount++;
    await removeCertificatesExcept(config.workDir, new Set(built.certificates.keys()));
  }

  function logWarnings(warnings: ModelWarning[]): void {
    const text = JSON.stringify(warnings);
    if (text === lastWarnings) return;
    lastWarnings = text;
    for (const warning of warnings) log.warn({ event: 'ingress_degraded', ...warning }, warning.reason);
  }

  const notReadyReason = (): string | undefined => {
    const pending = [
      ['ingresses', ingresses],
      ['secrets', secrets],
      ['services', services],
      ['endpointslices', endpointSlices],
    ].filter(([, w]) => !(w as ResourceWatch<never>).synced);
    if (pending.length) return `watches not synced: ${pending.map(([n]) => n).join(', ')}`;
    if (!master) return rejectedText ? 'nginx rejected the first config' : 'nginx not started yet';
    if (!master.running()) return 'nginx is not running';
    return undefined;
  };

  const statusServer: Server = await startStatusServer(
    { notReadyReason, debugModel: () => ({ ready: !notReadyReason(), applied: appliedCount, model: liveModel ?? null }) },
    config.statusPort,
    config.listenAddress,
  );
  log.info(
    { event: 'controller_started', ingressClass: config.ingressClass, workDir: config.workDir, statusPort: (statusServer.address() as AddressInfo).port },
    'watching ingresses',
  );
  for (const watch of watches) watch.start();

  let stopping: Promise<void> | undefined;
  return {
    notReadyReason,
    liveConfig: () => liveText,
    applied: () => appliedCount,
    statusPort: (statusServer.address() as AddressInfo).port,
    stop() {
      stopping ??= (async () => {
        stopped = true;
        clearTimeout(debounce);
        await syncing;
        await Promise.all(watches.map((w) => w.stop()));
        await master?.stop();
        await accessLog.close();
        statusServer.closeAllConnections();
        await new Promise<void>((resolve) => statusServer.close(() => resolve()));
        log.info({ event: 'controller_stopped' }, 'stopped');
      })();
      return stopping;
    },
  };
}
