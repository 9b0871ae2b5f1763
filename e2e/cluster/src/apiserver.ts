import { join } from 'node:path';
import { httpsGet } from './https-get.js';
import type { Pki } from './pki.js';
import { spawnLogged, waitUntilReady, type ManagedProcess } from './process.js';

/** Service-account token issuer and the audience the apiserver accepts by default. */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** Only 198.18.0.0/15 addresses are used in this project. */
export const SERVICE_CLUSTER_IP_RANGE = '198.18.128.0/20';

export interface ApiServerOptions {
  bin: string;
  dir: string;
  port: number;
  /** The address kube-apiserver listens on and advertises. */
  bindAddress: string;
  etcdUrl: string;
  pki: Pki;
  timeoutMs: number;
  extraArgs: string[];
  onSpawn?: (proc: ManagedProcess) => void;
}

export interface ApiServer {
  process: ManagedProcess;
  /** https://<bind address>:<port> */
  server: string;
}

export function apiServerArgs(opts: ApiServerOptions): string[] {
  const { pki } = opts;
  const ours = [
    `--etcd-servers=${opts.etcdUrl}`,
    `--bind-address=${opts.bindAddress}`,
    `--advertise-address=${opts.bindAddress}`,
    `--secure-port=${opts.port}`,
    `--cert-dir=${join(opts.dir, 'apiserver-certs')}`,
    `--tls-cert-file=${pki.servingCertFile}`,
    `--tls-private-key-file=${pki.servingKeyFile}`,
    `--client-ca-file=${pki.caCertFile}`,
    `--service-account-key-file=${pki.serviceAccountPubFile}`,
    `--service-account-signing-key-file=${pki.serviceAccountKeyFile}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--api-audiences=${SERVICE_ACCOUNT_ISSUER}`,
    '--authorization-mode=RBAC',
    // no controller-manager runs, so nothing would create `default` service accounts
    '--disable-admission-plugins=ServiceAccount',
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    '--allow-privileged=true',
    // faster start, less noise: no API priority & fairness bootstrap, no
    // endpoint reconciler writing 127.0.0.1 into the `kubernetes` Endpoints
    '--enable-priority-and-fairness=false',
    '--endpoint-reconciler-type=none',
    '--profiling=false',
  ];
  // A flag given in extraArgs replaces ours (list flags would otherwise append to it).
  const flagName = (arg: string): string => arg.split('=')[0]!;
  const overridden = new Set(opts.extraArgs.map(flagName));
  return [...ours.filter((arg) => !overridden.has(flagName(arg))), ...opts.extraArgs];
}

/** Starts kube-apiserver and waits until /readyz answers ok and the `default` namespace exists. */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const server = `https://${opts.bindAddress}:${opts.port}`;
  const proc = spawnLogged('kube-apiserver', opts.bin, apiServerArgs(opts), join(opts.dir, 'kube-apiserver.log'));
  opts.onSpawn?.(proc);
  const tls = { ca: opts.pki.caPem, cert: opts.pki.adminCertPem, key: opts.pki.adminKeyPem };
  try {
    await waitUntilReady(
      proc,
      `${server}/readyz`,
      async () => (await httpsGet(`${server}/readyz`, tls, 2000)).status === 200,
      opts.timeoutMs,
    );
    // The namespaces controller creates `default`, `kube-system`, ... right
    // after start; /readyz does not wait for it.
    await waitUntilReady(
      proc,
      'namespace default exists',
      async () => (await httpsGet(`${server}/api/v1/namespaces/default`, tls, 2000)).status === 200,
      opts.timeoutMs,
    );
  } catch (err) {
    await proc.stop(1000);
    throw err;
  }
  return { process: proc, server };
}
