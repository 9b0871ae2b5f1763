// The volumes of one pod on the node: directories under the pod's state dir, kept current
// (configMap/secret changes, token refresh, label/annotation changes) with atomic writes.
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1ConfigMap, V1Pod, V1Secret, V1ServiceAccountTokenProjection } from '@kubernetes/client-node';
import { writeAtomically } from './atomic-writer.js';
import type { PodRuntimeFields } from './pod-fields.js';
import type { RunnerLog } from './runner-log.js';
import type { IssuedToken } from './service-account-tokens.js';
import { volumeContents } from './volume-contents.js';

export interface PodVolumesDeps {
  configMap(namespace: string, name: string): V1ConfigMap | undefined;
  secret(namespace: string, name: string): V1Secret | undefined;
  requestToken(pod: V1Pod, source: V1ServiceAccountTokenProjection): Promise<IssuedToken>;
  runtime: PodRuntimeFields;
  log: RunnerLog;
  /** Called when a token is due for refresh: the owner should call sync(). */
  onRefreshDue(): void;
}

export class PodVolumes {
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly tokenErrors = new Map<string, string>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private pod: V1Pod,
    private readonly dir: string,
    private readonly deps: PodVolumesDeps,
  ) {}

  hostPath(volumeName: string): string {
    return join(this.dir, volumeName);
  }

  setPod(pod: V1Pod): void {
    this.pod = pod;
  }

  /** Brings every volume up to date; resolves to what is still missing (empty when all are written). */
  sync(): Promise<string[]> {
    const next = this.chain.then(() => this.syncNow());
    this.chain = next.catch(() => undefined);
    return next;
  }

  dispose(): void {
    this.disposed = true;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
  }

  private async refreshTokens(): Promise<void> {
    const now = Date.now();
    for (const volume of this.pod.spec?.volumes ?? []) {
      for (const [index, source] of (volume.projected?.sources ?? []).entries()) {
        if (!source.serviceAccountToken) continue;
        const key = `${volume.name}/${index}`;
        const current = this.tokens.get(key);
        if (current && now < current.refreshAt) continue;
        try {
          const issued = await this.deps.requestToken(this.pod, source.serviceAccountToken);
          this.tokens.set(key, issued);
          this.tokenErrors.delete(key);
          this.deps.log.info('token_issued', { pod: this.podKey(), volume: volume.name, audience: source.serviceAccountToken.audience ?? '(api server)', expiresAt: new Date(issued.expiresAt).toISOString() });
        } catch (err) {
          // keep serving the old token until it expires, as kubelet does
          if (current && now < current.expiresAt) continue;
          this.tokens.delete(key);
          this.tokenErrors.set(key, (err as Error).message);
        }
      }
    }
  }

  private podKey(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  private async syncNow(): Promise<string[]> {
    if (this.disposed) return [];
    await this.refreshTokens();
    const namespace = this.pod.metadata?.namespace ?? 'default';
    const fsGroup = this.pod.spec?.securityContext?.fsGroup;
    const waiting: string[] = [];
    for (const volume of this.pod.spec?.volumes ?? []) {
      const path = this.hostPath(volume.name);
      if (volume.emptyDir) {
        await mkdir(path, { recursive: true });
        await chmod(path, 0o777);
        continue;
      }
      const contents = volumeContents(this.pod, volume, {
        ...this.deps.runtime,
        configMap: (name) => this.deps.configMap(namespace, name),
        secret: (name) => this.deps.secret(namespace, name),
        token: (vol, index) => this.tokens.get(`${vol}/${index}`)?.token,
      });
      if (!contents.ok) {
        const errors = (volume.projected?.sources ?? []).map((_, i) => this.tokenErrors.get(`${volume.name}/${i}`)).filter(Boolean);
        waiting.push(`MountVolume.SetUp failed for volume "${volume.name}": ${[...contents.waitingFor, ...errors].join('; ')}`);
        continue;
      }
      if (this.disposed) return [];
      if (await writeAtomically(path, contents.files, fsGroup)) {
        this.deps.log.info('volume_written', { pod: this.podKey(), volume: volume.name, files: [...contents.files.keys()].join(',') });
      }
    }
    this.scheduleRefresh();
    return waiting;
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.disposed) return;
    const due = [...this.tokens.values()].map((t) => t.refreshAt);
    if (this.tokenErrors.size > 0) due.push(Date.now() + 2000);
    if (due.length === 0) return;
    const delay = Math.max(0, Math.min(...due) - Date.now());
    this.refreshTimer = setTimeout(() => this.deps.onRefreshDue(), Math.min(delay, 2 ** 31 - 1));
    this.refreshTimer.unref();
  }
}
