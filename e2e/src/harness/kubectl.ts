// The real kubectl (built with the test cluster's binaries), for the steps a platform
// engineer would type: `kubectl apply -k manifests/`, `kubectl set env`, `kubectl scale`.
import { execFile } from 'node:child_process';
import { binariesIn } from '@reseal/test-cluster';

export type Kubectl = (args: readonly string[], input?: string) => Promise<string>;

export function kubectlFor(kubeconfigPath: string): Kubectl {
  const bin = binariesIn().kubectl;
  return (args, input) =>
    new Promise((resolve, reject) => {
      const child = execFile(bin, [`--kubeconfig=${kubeconfigPath}`, ...args], { timeout: 60_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`kubectl ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      });
      if (input !== undefined) child.stdin?.end(input);
    });
}
