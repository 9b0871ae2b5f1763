import { join } from 'node:path';
import { spawnLogged, waitUntilReady, type ManagedProcess } from './process.js';

export interface EtcdOptions {
  bin: string;
  dir: string;
  clientPort: number;
  peerPort: number;
  timeoutMs: number;
  /** Called right after spawning, before waiting for readiness. */
  onSpawn?: (proc: ManagedProcess) => void;
}

export interface Etcd {
  process: ManagedProcess;
  /** http://127.0.0.1:<port>, for --etcd-servers */
  clientUrl: string;
}

/** Starts a single-member etcd on loopback (plain HTTP) and waits for /health. */
export async function startEtcd(opts: EtcdOptions): Promise<Etcd> {
  const clientUrl = `http://127.0.0.1:${opts.clientPort}`;
  const peerUrl = `http://127.0.0.1:${opts.peerPort}`;
  const proc = spawnLogged(
    'etcd',
    opts.bin,
    [
      '--name=test',
      `--data-dir=${join(opts.dir, 'etcd-data')}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=test=${peerUrl}`,
      '--initial-cluster-state=new',
      // test data is thrown away: skip fsync, keep the db small
      '--unsafe-no-fsync=true',
      '--quota-backend-bytes=1073741824',
      '--snapshot-count=10000',
      '--log-level=warn',
    ],
    join(opts.dir, 'etcd.log'),
  );
  opts.onSpawn?.(proc);
  try {
    await waitUntilReady(
      proc,
      `${clientUrl}/health`,
      async () => {
        const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(2000) });
        const body = (await res.json()) as { health?: string };
        return res.ok && body.health === 'true';
      },
      opts.timeoutMs,
      50,
    );
  } catch (err) {
    await proc.stop(1000);
    throw err;
  }
  return { process: proc, clientUrl };
}
