import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Where and how to reach a cluster's apiserver. */
export interface ClusterEndpoint {
  /** https://127.0.0.1:<port> */
  server: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  caPem: string;
}

export type KubeUser =
  | { name: string; token: string }
  | { name: string; certPem: string; keyPem: string };

/** A kubeconfig document (JSON, which is also YAML) with one cluster, user and context. */
export function kubeconfigDocument(cluster: ClusterEndpoint, user: KubeUser, contextName = 'reseal-test'): object {
  const userEntry =
    'token' in user
      ? { token: user.token }
      : { 'client-certificate-data': b64(user.certPem), 'client-key-data': b64(user.keyPem) };
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: contextName, cluster: { server: cluster.server, 'certificate-authority-data': b64(cluster.caPem) } },
    ],
    users: [{ name: user.name, user: userEntry }],
    contexts: [{ name: contextName, context: { cluster: contextName, user: user.name } }],
    'current-context': contextName,
  };
}

export async function writeKubeconfig(path: string, cluster: ClusterEndpoint, user: KubeUser): Promise<void> {
  await writeFile(path, `${JSON.stringify(kubeconfigDocument(cluster, user), null, 2)}\n`, { mode: 0o600 });
}

/** A loaded client-node KubeConfig for `user` against `cluster`. */
export function makeKubeConfig(cluster: ClusterEndpoint, user: KubeUser): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(JSON.stringify(kubeconfigDocument(cluster, user)));
  return kc;
}

/**
 * A KubeConfig that authenticates with a bearer token, e.g. a service-account
 * token from TokenRequest, to act as that service account in tests.
 */
export function kubeConfigForToken(cluster: ClusterEndpoint, token: string, userName = 'token-user'): KubeConfig {
  return makeKubeConfig(cluster, { name: userName, token });
}
