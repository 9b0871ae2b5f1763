// @reseal/test-cluster: a real etcd + kube-apiserver on loopback for tests,
// like controller-runtime's envtest. Only the API server runs: no
// controller-manager, scheduler or kubelet, so nothing reconciles (no
// `default` service accounts, pods stay Pending, a deleted namespace stays
// Terminating). Binaries come from `npm run build -w @reseal/test-cluster`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { SERVICE_ACCOUNT_ISSUER, startApiServer } from './apiserver.js';
import { findBinaries } from './binaries.js';
import { startEtcd, type Etcd } from './etcd.js';
import { kubeConfigForToken, makeKubeConfig, writeKubeconfig } from './kubeconfig.js';
import { generatePki } from './pki.js';
import { freePorts } from './ports.js';
import { logTail, registerCleanup, StartError, type ManagedProcess } from './process.js';

export { SERVICE_ACCOUNT_ISSUER, SERVICE_CLUSTER_IP_RANGE } from './apiserver.js';
export { binariesIn, defaultBinDir, findBinaries, type Binaries } from './binaries.js';
export {
  kubeConfigForToken,
  kubeconfigDocument,
  makeKubeConfig,
  writeKubeconfig,
  type ClusterEndpoint,
  type KubeUser,
} from './kubeconfig.js';

export interface TestClusterOptions {
  /** Directory holding etcd and kube-apiserver. Default: this package's `.bin/`. */
  binDir?: string;
  /** How long etcd and then kube-apiserver may take to become ready, each. Default 60 000 ms. */
  startTimeoutMs?: number;
  /** Extra kube-apiserver flags, appended after ours; a flag given here replaces ours of the same name. */
  apiServerArgs?: string[];
  /**
   * The IPv4 address kube-apiserver binds to and puts in its serving certificate. Default
   * 127.0.0.1; the e2e pod runner uses its bridge address so that pods reach the API.
   */
  bindAddress?: string;
  /**
   * Keep the temp dir (certificates, logs, etcd data) after stop() or a failed
   * start, for debugging. Default: the env var RESEAL_TEST_CLUSTER_KEEP=1.
   */
  keepDir?: boolean;
}

export interface TestCluster {
  /** kubeconfig file for the cluster admin (client cert in group system:masters). */
  kubeconfigPath: string;
  /** https://<bindAddress>:<port> */
  server: string;
  /** The admin kubeconfig, loaded. */
  kubeConfig: KubeConfig;
  /** PEM of the CA that signed the apiserver serving cert and the admin client cert. */
  caPem: string;
  /** Temp dir with certificates, logs (etcd.log, kube-apiserver.log) and etcd data; removed by stop(). */
  dir: string;
  /** The admin client certificate and key (PEM), for raw HTTPS requests. */
  admin: { certPem: string; keyPem: string };
  /** http://127.0.0.1:<port> */
  etcdUrl: string;
  /** `iss` of service-account tokens; also the apiserver's default audience. */
  serviceAccountIssuer: string;
  pids: { etcd: number; apiServer: number };
  logFiles: { etcd: string; apiServer: string };
  /** A KubeConfig for this cluster that authenticates with a bearer token. */
  kubeConfigForToken(token: string, userName?: string): KubeConfig;
  /** Stops kube-apiserver and etcd (SIGTERM, SIGKILL after 5 s) and removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

const MAX_ATTEMPTS = 3;

/** Starts etcd and kube-apiserver on free loopback ports with fresh certificates. */
export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const bins = await findBinaries(opts.binDir);
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const keepDir = opts.keepDir ?? process.env['RESEAL_TEST_CLUSTER_KEEP'] === '1';

  const dir = await mkdtemp(join(tmpdir(), 'reseal-test-cluster-'));
  const cleanup = registerCleanup(dir, keepDir);
  const started: ManagedProcess[] = [];
  const onSpawn = (p: ManagedProcess): void => {
    started.push(p);
    cleanup.addProcess(p);
  };

  const stopAll = async (): Promise<void> => {
    // apiserver first, so it does not log etcd connection errors on the way out
    for (const p of [...started].reverse()) await p.stop(5000);
  };

  try {
    const bindAddress = opts.bindAddress ?? '127.0.0.1';
    const pki = await generatePki(dir, bindAddress === '127.0.0.1' ? [] : [bindAddress]);
    for (let attempt = 1; ; attempt++) {
      const [etcdClientPort, etcdPeerPort, apiPort] = (await freePorts(3)) as [number, number, number];
      let etcd: Etcd | undefined;
      try {
        etcd = await startEtcd({
          bin: bins.etcd,
          dir,
          clientPort: etcdClientPort,
          peerPort: etcdPeerPort,
          timeoutMs,
          onSpawn,
        });
        const api = await startApiServer({
          bin: bins.kubeApiserver,
          dir,
          port: apiPort,
          bindAddress,
          etcdUrl: etcd.clientUrl,
          pki,
          timeoutMs,
          extraArgs: opts.apiServerArgs ?? [],
          onSpawn,
        });

        const endpoint = { server: api.server, caPem: pki.caPem };
        const adminUser = { name: 'reseal-test-admin', certPem: pki.adminCertPem, keyPem: pki.adminKeyPem };
        const kubeconfigPath = join(dir, 'admin.kubeconfig');
        await writeKubeconfig(kubeconfigPath, endpoint, adminUser);

        let stopping: Promise<void> | undefined;
        return {
          kubeconfigPath,
          server: api.server,
          kubeConfig: makeKubeConfig(endpoint, adminUser),
          caPem: pki.caPem,
          dir,
          admin: { certPem: pki.adminCertPem, keyPem: pki.adminKeyPem },
          etcdUrl: etcd.clientUrl,
          serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER,
          pids: { etcd: etcd.process.pid, apiServer: api.process.pid },
          logFiles: { etcd: etcd.process.logFile, apiServer: api.process.logFile },
          kubeConfigForToken: (token, userName) => kubeConfigForToken(endpoint, token, userName),
          stop() {
            stopping ??= (async () => {
              try {
                await stopAll();
                if (!keepDir) await rm(dir, { recursive: true, force: true });
              } finally {
                cleanup.release();
              }
            })();
            return stopping;
          },
        };
      } catch (err) {
        if (etcd && err instanceof StartError) {
          // the apiserver failed: etcd's side of the story may explain it
          err.message += `\n--- last etcd log lines (${etcd.process.logFile}) ---\n${(await logTail(etcd.process.logFile, 2000)).trimEnd()}\n---`;
        }
        await stopAll();
        started.length = 0;
        if (err instanceof StartError && err.portInUse && attempt < MAX_ATTEMPTS) {
          // a port was taken between picking and binding it: start over with a fresh etcd
          await rm(join(dir, 'etcd-data'), { recursive: true, force: true });
          continue;
        }
        throw err;
      }
    }
  } catch (err) {
    await stopAll();
    if (!keepDir) await rm(dir, { recursive: true, force: true });
    cleanup.release();
    if (err instanceof Error && !keepDir) {
      err.message += '\n(set RESEAL_TEST_CLUSTER_KEEP=1 to keep the cluster dir with full logs)';
    }
    throw err;
  }
}
export { readPcapTcp, reassemble, tlsRecordTypes, type TcpSegment } from './pcap-read.js';
export { eventually } from './eventually.js';
export { freePorts } from './ports.js';
