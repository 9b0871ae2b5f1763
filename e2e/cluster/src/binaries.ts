import { access, constants } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** Where build-binaries.sh puts etcd, kube-apiserver and kubectl. */
export const defaultBinDir: string = fileURLToPath(new URL('../.bin/', import.meta.url));

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
}

export function binariesIn(binDir: string = defaultBinDir): Binaries {
  const dir = binDir.endsWith('/') ? binDir : `${binDir}/`;
  return { etcd: `${dir}etcd`, kubeApiserver: `${dir}kube-apiserver`, kubectl: `${dir}kubectl` };
}

/** Resolves the binaries, or throws an error that says how to build them. */
export async function findBinaries(binDir: string = defaultBinDir, need: (keyof Binaries)[] = ['etcd', 'kubeApiserver']): Promise<Binaries> {
  const bins = binariesIn(binDir);
  const missing: string[] = [];
  for (const key of need) {
    try {
      await access(bins[key], constants.X_OK);
    } catch {
      missing.push(bins[key]);
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `test cluster: missing binaries ${missing.join(', ')}. ` +
        'Build them with `npm run build -w @reseal/test-cluster` ' +
        '(compiles etcd, kube-apiserver and kubectl from the Go module proxy into e2e/cluster/.bin/; needs Go).',
    );
  }
  return bins;
}
