// One pod on the node, from admission to teardown, in the order kubelet uses: sandbox
// (netns + IP), volumes, init containers one by one (native sidecars left running once
// started), then the app containers one by one (each after the previous one's postStart
// hook), then supervision (restarts, probes) until the pod is terminal or deleted.
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1ConfigMap, type V1Container, type V1LifecycleHandler, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import { resolveContainerArgv } from './container-command.js';
import { resolveContainerEnv } from './container-env.js';
import { enterScript, envFileContents, startScript, type LaunchMount } from './container-launcher.js';
import { execInContainer, killGroup, spawnContainer, type ContainerProcess, type ExecResult, type ExitInfo } from './container-process.js';
import { renderHostsFile, type ServiceAddress } from './hosts-file.js';
import { lookupImage, type ImageSpec, type ImageTable } from './image-table.js';
import type { NodeNetwork, PodInterface } from './node-network.js';
import { acceptedButNotEnforced, unsupportedPodFeatures } from './pod-features.js';
import { buildPodStatus, type ContainerKind, type ContainerSnapshot, type ContainerStateJson, type PodPhase } from './pod-status.js';
import { PodVolumes } from './pod-volumes.js';
import { ProbeLoop, runHandler, type ProbeTarget } from './probes.js';
import { nextBackoffMs, type BackoffOptions } from './restart-backoff.js';
import type { RunnerLog } from './runner-log.js';
import { requestServiceAccountToken } from './service-account-tokens.js';

export interface PodWorkerDeps {
  core: CoreV1Api;
  network: NodeNetwork;
  images: ImageTable;
  apiServer: { host: string; port: number };
  logDir: string;
  /** Parent of the pod's own state dir (scripts, env files, volumes, hosts file). */
  stateRoot: string;
  nodeName: string;
  log: RunnerLog;
  configMap(namespace: string, name: string): V1ConfigMap | undefined;
  secret(namespace: string, name: string): V1Secret | undefined;
  services(): ServiceAddress[];
  backoff: BackoffOptions;
  /** Upper bound for terminationGracePeriodSeconds (ms). */
  maxGraceMs: number;
  setprivPath: string;
  /** Host directories under /tmp or /run that containers must still see (PodRunnerOptions.hostPaths). */
  keepVisible: string[];
}

type TerminationCause = 'deleted' | 'gone' | 'stop';

class Container {
  process: ContainerProcess | undefined;
  state: ContainerStateJson;
  lastState: ContainerStateJson | undefined;
  restartCount = 0;
  started = false;
  ready = false;
  containerID: string | undefined;
  probes: ProbeLoop[] = [];
  restartTimer: NodeJS.Timeout | undefined;
  backoffCount = 0;
  startedAtMs = 0;
  /** Where start.sh/enter.sh/env live. */
  readonly dir: string;
  enterScriptPath: string;

  constructor(
    readonly spec: V1Container,
    readonly kind: ContainerKind,
    readonly image: ImageSpec | undefined,
    podDir: string,
    initialReason: string,
  ) {
    this.state = { waiting: { reason: initialReason } };
    this.dir = join(podDir, 'containers', `${kind}-${spec.name}`);
    this.enterScriptPath = join(this.dir, 'enter.sh');
  }

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  snapshot(): ContainerSnapshot {
    return {
      name: this.name,
      image: this.spec.image ?? '',
      kind: this.kind,
      state: this.state,
      ...(this.lastState ? { lastState: this.lastState } : {}),
      ready: this.ready,
      started: this.started,
      restartCount: this.restartCount,
      ...(this.containerID ? { containerID: this.containerID } : {}),
    };
  }
}

let containerCounter = 0;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class PodWorker {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  private pod: V1Pod;
  private readonly dir: string;
  private readonly initContainers: Container[];
  private readonly containers: Container[];
  private phase: PodPhase = 'Pending';
  private reason: string | undefined;
  private message: string | undefined;
  private initialized = false;
  private readonly startTime = new Date().toISOString();
  private iface: PodInterface | undefined;
  private volumes: PodVolumes | undefined;
  private hostsFile: string;
  private terminating = false;
  private signalTermination: () => void = () => undefined;
  /** Resolves when termination begins: every long wait in run() races with it. */
  private readonly terminationBegun = new Promise<void>((resolve) => (this.signalTermination = resolve));
  private terminated: Promise<void> | undefined;
  private running: Promise<void> = Promise.resolve();
  private waiters: (() => void)[] = [];
  private lastConditions: { type?: string; status?: string; lastTransitionTime?: string }[] = [];
  private statusWriting = false;
  private statusDirty = false;
  private statusGone = false;
  private statusFlushed: (() => void)[] = [];

  constructor(
    pod: V1Pod,
    private readonly deps: PodWorkerDeps,
  ) {
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? '';
    this.namespace = pod.metadata?.namespace ?? 'default';
    this.name = pod.metadata?.name ?? '';
    this.dir = join(deps.stateRoot, `${this.namespace}_${this.name}_${this.uid.slice(0, 8)}`);
    this.hostsFile = join(this.dir, 'hosts');
    const hasInit = (pod.spec?.initContainers ?? []).length > 0;
    this.initContainers = (pod.spec?.initContainers ?? []).map(
      (c) => new Container(c, (c as { restartPolicy?: string }).restartPolicy === 'Always' ? 'sidecar' : 'init', lookupImage(deps.images, c.image), this.dir, 'PodInitializing'),
    );
    this.containers = (pod.spec?.containers ?? []).map((c) => new Container(c, 'app', lookupImage(deps.images, c.image), this.dir, hasInit ? 'PodInitializing' : 'ContainerCreating'));
  }

  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  get sandbox(): PodInterface | undefined {
    return this.iface;
  }

  get isTerminating(): boolean {
    return this.terminating;
  }

  start(): void {
    this.running = this.run().catch((err: unknown) => {
      if (this.terminating) return;
      this.deps.log.error('pod_failed', { pod: this.key, error: err as Error });
      this.phase = 'Failed';
      this.reason = 'RunnerError';
      this.message = `reseal e2e pod runner: ${(err as Error).message}`;
      this.markDirty();
    });
  }

  /** A new version of the Pod object from the API. */
  update(pod: V1Pod): void {
    const before = this.pod.metadata;
    this.pod = pod;
    this.volumes?.setPod(pod);
    if (JSON.stringify(before?.labels) !== JSON.stringify(pod.metadata?.labels) || JSON.stringify(before?.annotations) !== JSON.stringify(pod.metadata?.annotations)) {
      this.syncVolumes();
    }
  }

  /** A ConfigMap or Secret in the pod's namespace changed. */
  configChanged(): void {
    this.notify();
    this.syncVolumes();
  }

  async servicesChanged(): Promise<void> {
    if (this.iface && !this.terminating) await this.writeHostsFile();
  }

  // ---- lifecycle -------------------------------------------------------------------------

  private async run(): Promise<void> {
    const unsupported = unsupportedPodFeatures(this.pod, { images: this.deps.images, pathExists: existsSync });
    if (unsupported.length > 0) {
      this.phase = 'Failed';
      this.reason = 'Unsupported';
      this.message = `the reseal e2e pod runner does not support: ${unsupported.join(', ')}`;
      for (const c of [...this.initContainers, ...this.containers]) c.state = { waiting: { reason: 'Unsupported', message: this.message } };
      this.deps.log.warn('pod_unsupported', { pod: this.key, features: unsupported.join(', ') });
      await this.recordEvent('Warning', 'Unsupported', this.message);
      this.markDirty();
      return;
    }
    const ignored = acceptedButNotEnforced(this.pod);
    if (ignored.length > 0) this.deps.log.info('pod_features_not_enforced', { pod: this.key, features: ignored.join(', ') });

    await this.bind();
    this.markDirty();

    await mkdir(join(this.dir, 'volumes'), { recursive: true });
    await chmod(this.dir, 0o755);
    await chmod(join(this.dir, 'volumes'), 0o755);
    const address = this.deps.network.allocateAddress();
    try {
      this.iface = await this.deps.network.addPodInterface(address);
    } catch (err) {
      this.deps.network.releaseAddress(address);
      throw err;
    }
    this.deps.log.info('pod_sandbox_created', { pod: this.key, ip: address, netns: this.iface.netns, hostLink: this.iface.hostLink });
    if (this.terminating) return;
    await this.writeHostsFile();
    await writeFile(join(this.dir, 'resolv.conf'), '', { mode: 0o644 });
    this.markDirty();

    this.volumes = new PodVolumes(this.pod, join(this.dir, 'volumes'), {
      configMap: this.deps.configMap,
      secret: this.deps.secret,
      requestToken: (pod, source) => requestServiceAccountToken(this.deps.core, pod, source),
      runtime: this.runtimeFields(),
      log: this.deps.log,
      onRefreshDue: () => this.syncVolumes(),
    });
    for (;;) {
      const waiting = await this.volumes.sync();
      if (this.terminating) return;
      if (waiting.length === 0) break;
      this.setWaiting([...this.initContainers, ...this.containers], 'ContainerCreating', waiting.join('; '));
      await this.waitForChange(1000);
      if (this.terminating) return;
    }

    for (const c of this.initContainers) {
      if (c.kind === 'sidecar') {
        await this.startUntilStarted(c);
      } else if (!(await this.runInitToCompletion(c))) {
        return;
      }
      if (this.terminating) return;
    }
    this.initialized = true;
    this.setWaiting(this.containers, 'ContainerCreating');
    this.markDirty();

    for (const c of this.containers) {
      if (!(await this.startWithRetry(c))) return;
      await this.runPostStart(c);
      if (this.terminating) return;
    }
    this.updatePhase();
  }

  /** An Event on the pod, as kubelet records them (best effort: `kubectl describe` shows it). */
  private async recordEvent(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    try {
      await this.deps.core.createNamespacedEvent({
        namespace: this.namespace,
        body: {
          metadata: { generateName: `${this.name}.`, namespace: this.namespace },
          involvedObject: { apiVersion: 'v1', kind: 'Pod', name: this.name, namespace: this.namespace, uid: this.uid },
          reason,
          message,
          type,
          source: { component: 'reseal-e2e-pod-runner', host: this.deps.nodeName },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      this.deps.log.warn('event_record_failed', { pod: this.key, reason, error: err as Error });
    }
  }

  /** Plays the scheduler: there is none, and spec.nodeName should be set for fieldRefs. */
  private async bind(): Promise<void> {
    if (this.pod.spec?.nodeName) return;
    try {
      await this.deps.core.createNamespacedBinding({
        namespace: this.namespace,
        body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: this.name, uid: this.uid }, target: { apiVersion: 'v1', kind: 'Node', name: this.deps.nodeName } },
      });
    } catch (err) {
      this.deps.log.warn('pod_bind_failed', { pod: this.key, error: err as Error });
    }
  }

  private runtimeFields(): { podIP?: string; hostIP: string; nodeName: string } {
    return { ...(this.iface ? { podIP: this.iface.address } : {}), hostIP: this.deps.network.gateway, nodeName: this.deps.nodeName };
  }

  private async runInitToCompletion(c: Container): Promise<boolean> {
    for (;;) {
      if (!(await this.startWithRetry(c))) return false;
      const exit = await this.waitForExit(c);
      if (this.terminating || !exit) return false;
      if (exit.code === 0) return true;
      if (this.restartPolicy() === 'Never') {
        this.phase = 'Failed';
        this.deps.log.warn('init_container_failed', { pod: this.key, container: c.name, exitCode: exit.code });
        this.setWaiting(this.containers, 'PodInitializing');
        await this.stopSidecars(2000);
        this.markDirty();
        return false;
      }
      await this.backoff(c);
      if (this.terminating) return false;
      c.restartCount++;
    }
  }

  private async startUntilStarted(c: Container): Promise<void> {
    if (!(await this.startWithRetry(c))) return;
    // exits before the startup probe passes are restarted by the exit handler
    await this.waitUntil(() => c.started);
  }

  /** Starts a container, waiting while its configuration (env sources) is not there yet. */
  private async startWithRetry(c: Container): Promise<boolean> {
    for (;;) {
      if (this.terminating) return false;
      const error = await this.startContainer(c);
      if (!error) return true;
      this.markDirty();
      await this.waitForChange(1000);
    }
  }

  private userOf(c: Container): { uid: number; gid: number } {
    const podSc = this.pod.spec?.securityContext;
    const uid = c.spec.securityContext?.runAsUser ?? podSc?.runAsUser ?? c.image?.uid ?? 0;
    const gid = c.spec.securityContext?.runAsGroup ?? podSc?.runAsGroup ?? c.image?.gid ?? 0;
    return { uid, gid };
  }

  private mountsOf(c: Container): LaunchMount[] {
    const volumes = new Map((this.pod.spec?.volumes ?? []).map((v) => [v.name, v]));
    return (c.spec.volumeMounts ?? []).map((m) => {
      const volume = volumes.get(m.name);
      const source = this.volumes?.hostPath(m.name) ?? '';
      // kubelet always mounts these read-only
      const alwaysReadOnly = Boolean(volume?.configMap || volume?.secret || volume?.downwardAPI || volume?.projected);
      return { source: m.subPath ? join(source, m.subPath) : source, target: m.mountPath, readOnly: Boolean(m.readOnly) || alwaysReadOnly };
    });
  }

  /** Returns an error message (and leaves the container waiting) when it cannot start yet. */
  private async startContainer(c: Container): Promise<string | undefined> {
    const image = c.image;
    if (!image) throw new Error(`image ${c.spec.image} is not in the image table`);
    const { uid, gid } = this.userOf(c);
    const runAsNonRoot = c.spec.securityContext?.runAsNonRoot ?? this.pod.spec?.securityContext?.runAsNonRoot;
    if (runAsNonRoot && uid === 0) {
      c.state = { waiting: { reason: 'CreateContainerConfigError', message: 'container has runAsNonRoot and image will run as root' } };
      return c.state.waiting.message;
    }
    const envResult = resolveContainerEnv(this.pod, c.spec, image, {
      ...this.runtimeFields(),
      apiServer: this.deps.apiServer,
      configMap: this.deps.configMap,
      secret: this.deps.secret,
      uid,
    });
    if (!envResult.ok) {
      c.state = { waiting: { reason: envResult.reason, message: envResult.message } };
      return envResult.message;
    }
    const argv = resolveContainerArgv(c.spec, image, envResult.containerEnv);
    const podSc = this.pod.spec?.securityContext;
    const groups = [...new Set([...(podSc?.fsGroup !== undefined ? [podSc.fsGroup] : []), ...(podSc?.supplementalGroups ?? [])])];
    const spec = {
      label: `${this.key}/${c.name}`,
      hostname: this.name.slice(0, 63),
      hostsFile: this.hostsFile,
      resolvConf: join(this.dir, 'resolv.conf'),
      mounts: this.mountsOf(c),
      workingDir: c.spec.workingDir || image.workingDir || '/',
      envFile: join(c.dir, 'env'),
      uid,
      gid,
      supplementalGroups: groups,
      addCapabilities: c.spec.securityContext?.capabilities?.add ?? [],
      noNewPrivileges: c.spec.securityContext?.allowPrivilegeEscalation === false,
      setprivPath: this.deps.setprivPath,
      keepVisible: this.deps.keepVisible.map((path, i) => ({ path, stage: join(c.dir, `keep-visible-${i}`) })),
    };
    await mkdir(c.dir, { recursive: true, mode: 0o700 });
    for (const k of spec.keepVisible) await mkdir(k.stage, { recursive: true });
    await writeFile(spec.envFile, envFileContents(envResult.env), { mode: 0o600 });
    await writeFile(c.enterScriptPath, enterScript(spec), { mode: 0o700 });
    const startPath = join(c.dir, 'start.sh');
    await writeFile(startPath, startScript(spec, c.enterScriptPath), { mode: 0o700 });
    if (this.terminating || !this.iface) return 'terminating';

    const logPath = this.containerLogPath(c.name);
    const proc = spawnContainer(this.iface.netns, startPath, argv, logPath);
    c.process = proc;
    c.containerID = `reseal-e2e://${proc.pid}-${++containerCounter}`;
    c.startedAtMs = Date.now();
    c.state = { running: { startedAt: new Date(c.startedAtMs).toISOString() } };
    c.started = false;
    c.ready = false;
    this.deps.log.info('container_started', { pod: this.key, container: c.name, pid: proc.pid, uid, argv: argv.join(' ') });
    void proc.exited.then((exit) => this.onExit(c, proc, exit));
    this.startProbes(c);
    this.markDirty();
    return undefined;
  }

  containerLogPath(container: string): string {
    return join(this.deps.logDir, `${this.namespace}_${this.name}_${container}.log`);
  }

  private probeTarget(c: Container): ProbeTarget {
    return {
      podIP: this.iface?.address ?? '127.0.0.1',
      ports: c.spec.ports ?? [],
      exec: (argv, timeoutMs) => this.execIn(c, argv, timeoutMs),
    };
  }

  private startProbes(c: Container): void {
    const target = this.probeTarget(c);
    const proc = c.process;
    const current = (): boolean => c.process === proc && !this.terminating;
    const afterStarted = (): void => {
      if (!current()) return;
      c.started = true;
      if (c.kind === 'init') return;
      if (c.spec.livenessProbe) {
        const loop = new ProbeLoop('liveness', c.spec.livenessProbe, target, (ok, message) => {
          if (ok || !current()) return;
          this.deps.log.warn('liveness_probe_failed', { pod: this.key, container: c.name, message });
          void this.killForRestart(c, `Liveness probe failed: ${message}`);
        });
        c.probes.push(loop);
        loop.start();
      }
      if (c.spec.readinessProbe) {
        const loop = new ProbeLoop('readiness', c.spec.readinessProbe, target, (ok, message) => {
          if (!current() || c.ready === ok) return;
          c.ready = ok;
          this.deps.log.info(ok ? 'container_ready' : 'container_not_ready', { pod: this.key, container: c.name, message });
          this.markDirty();
        });
        c.probes.push(loop);
        loop.start();
      } else {
        c.ready = true;
      }
      this.markDirty();
      this.notify();
    };
    if (c.spec.startupProbe && c.kind !== 'init') {
      const loop = new ProbeLoop('startup', c.spec.startupProbe, target, (ok, message) => {
        if (!current()) return;
        if (ok) {
          this.deps.log.info('startup_probe_succeeded', { pod: this.key, container: c.name });
          afterStarted();
        } else {
          this.deps.log.warn('startup_probe_failed', { pod: this.key, container: c.name, message });
          void this.killForRestart(c, `Startup probe failed: ${message}`);
        }
      });
      c.probes.push(loop);
      loop.start();
    } else {
      afterStarted();
    }
  }

  private stopProbes(c: Container): void {
    for (const p of c.probes) p.stop();
    c.probes = [];
  }

  /** Kills a container whose probe failed; its exit handler restarts it per restartPolicy. */
  private async killForRestart(c: Container, why: string): Promise<void> {
    const proc = c.process;
    if (!proc) return;
    this.stopProbes(c);
    this.deps.log.info('container_killing', { pod: this.key, container: c.name, why });
    await this.stopProcess(proc, Math.min(this.graceMs(), 2000));
  }

  private onExit(c: Container, proc: ContainerProcess, exit: ExitInfo): void {
    if (c.process !== proc) return;
    c.process = undefined;
    this.stopProbes(c);
    c.started = false;
    c.ready = false;
    c.state = {
      terminated: {
        exitCode: exit.code,
        ...(exit.signal ? { signal: exit.code - 128 } : {}),
        reason: exit.code === 0 ? 'Completed' : 'Error',
        startedAt: new Date(c.startedAtMs).toISOString(),
        finishedAt: new Date().toISOString(),
        ...(c.containerID ? { containerID: c.containerID } : {}),
      },
    };
    this.deps.log.info('container_exited', { pod: this.key, container: c.name, exitCode: exit.code, signal: exit.signal });
    this.notify();
    this.markDirty();
    if (this.terminating || c.kind === 'init') return;
    if (c.kind === 'sidecar') {
      if (!this.isTerminal()) this.scheduleRestart(c);
      return;
    }
    const policy = this.restartPolicy();
    if (policy === 'Always' || (policy === 'OnFailure' && exit.code !== 0)) this.scheduleRestart(c);
    else this.updatePhase();
  }

  private backoffDelay(c: Container): number {
    // a container that ran for a while starts its backoff over, as kubelet does after 10 min
    if (Date.now() - c.startedAtMs > 60_000) c.backoffCount = 0;
    return nextBackoffMs(c.backoffCount++, this.deps.backoff);
  }

  private async backoff(c: Container): Promise<void> {
    const ms = this.backoffDelay(c);
    c.lastState = c.state;
    c.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(ms / 1000)}s restarting failed container=${c.name} pod=${this.name}` } };
    this.markDirty();
    await this.waitUntil(() => false, ms);
  }

  private scheduleRestart(c: Container): void {
    const ms = this.backoffDelay(c);
    c.lastState = c.state;
    c.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(ms / 1000)}s restarting failed container=${c.name} pod=${this.name}` } };
    this.markDirty();
    c.restartTimer = setTimeout(() => {
      c.restartTimer = undefined;
      if (this.terminating) return;
      c.restartCount++;
      void this.startWithRetry(c).then(async (ok) => {
        if (ok && c.kind === 'app') await this.runPostStart(c);
      });
    }, ms);
  }

  private async runPostStart(c: Container): Promise<void> {
    const hook = c.spec.lifecycle?.postStart;
    if (!hook || !c.process) return;
    const proc = c.process;
    const result = await Promise.race([this.runLifecycleHandler(c, hook, 30_000), this.terminationBegun.then(() => ({ ok: true, message: 'terminating' }))]);
    if (result.ok || c.process !== proc || this.terminating) return;
    // kubelet kills a container whose postStart hook failed (FailedPostStartHook)
    this.deps.log.warn('post_start_hook_failed', { pod: this.key, container: c.name, message: result.message });
    await this.stopProcess(proc, Math.min(this.graceMs(), 2000));
  }

  private async runLifecycleHandler(c: Container, handler: V1LifecycleHandler, timeoutMs: number): Promise<{ ok: boolean; message: string }> {
    if (handler.sleep) {
      await delay(Math.min(handler.sleep.seconds * 1000, timeoutMs));
      return { ok: true, message: 'slept' };
    }
    return runHandler(handler, this.probeTarget(c), timeoutMs);
  }

  private restartPolicy(): 'Always' | 'OnFailure' | 'Never' {
    const p = this.pod.spec?.restartPolicy;
    return p === 'Never' || p === 'OnFailure' ? p : 'Always';
  }

  private isTerminal(): boolean {
    return this.phase === 'Succeeded' || this.phase === 'Failed';
  }

  private updatePhase(): void {
    if (this.isTerminal() || !this.initialized) return;
    const apps = this.containers;
    const done = apps.every((c) => 'terminated' in c.state && !c.restartTimer && !c.process);
    if (done && apps.length > 0) {
      const failed = apps.some((c) => 'terminated' in c.state && c.state.terminated.exitCode !== 0);
      this.phase = failed ? 'Failed' : 'Succeeded';
      this.deps.log.info('pod_completed', { pod: this.key, phase: this.phase });
      void this.stopSidecars(this.graceMs());
    } else if (apps.every((c) => c.containerID !== undefined)) {
      this.phase = 'Running';
    }
    this.markDirty();
  }

  private setWaiting(containers: Container[], reason: string, message?: string): void {
    for (const c of containers) {
      if (c.process || 'terminated' in c.state) continue;
      c.state = { waiting: { reason, ...(message ? { message } : {}) } };
    }
    this.markDirty();
  }

  // ---- waiting ---------------------------------------------------------------------------

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves on the next notify() or after timeoutMs. */
  private waitForChange(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  /** Waits until predicate() or termination; with timeoutMs, at most that long. */
  private async waitUntil(predicate: () => boolean, timeoutMs?: number): Promise<void> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    while (!predicate() && !this.terminating) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await this.waitForChange(Math.min(left, 1000));
    }
  }

  private async waitForExit(c: Container): Promise<ExitInfo | undefined> {
    const proc = c.process;
    if (!proc) return 'terminated' in c.state ? { code: c.state.terminated.exitCode } : undefined;
    return Promise.race([proc.exited, this.terminationBegun.then(() => undefined)]);
  }

  // ---- exec / kill (test API) ------------------------------------------------------------

  private findContainer(name: string): Container {
    const c = [...this.initContainers, ...this.containers].find((x) => x.name === name);
    if (!c) throw new Error(`pod ${this.key} has no container ${name}`);
    return c;
  }

  private execIn(c: Container, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const proc = c.process;
    if (!proc) return Promise.reject(new Error(`container ${c.name} of pod ${this.key} is not running`));
    return execInContainer(proc.pid, c.enterScriptPath, argv, timeoutMs);
  }

  exec(container: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    return this.execIn(this.findContainer(container), argv, timeoutMs);
  }

  killContainer(container: string, signal: NodeJS.Signals): void {
    const c = this.findContainer(container);
    if (!c.process) throw new Error(`container ${container} of pod ${this.key} is not running`);
    this.deps.log.info('container_kill_requested', { pod: this.key, container, signal });
    killGroup(c.process.pid, signal);
  }

  // ---- termination -----------------------------------------------------------------------

  private graceMs(): number {
    const seconds = this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    return Math.min(seconds * 1000, this.deps.maxGraceMs);
  }

  /** SIGTERM the group, SIGKILL after graceMs; resolves when the process has exited. */
  private async stopProcess(proc: ContainerProcess, graceMs: number): Promise<void> {
    killGroup(proc.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(proc.pid, 'SIGKILL'), graceMs);
    await proc.exited;
    clearTimeout(timer);
  }

  private async stopContainers(containers: Container[], graceMs: number, preStop: boolean): Promise<void> {
    await Promise.all(
      containers.map(async (c) => {
        if (c.restartTimer) clearTimeout(c.restartTimer);
        c.restartTimer = undefined;
        this.stopProbes(c);
        const proc = c.process;
        if (!proc) return;
        const started = Date.now();
        const hook = c.spec.lifecycle?.preStop;
        if (preStop && hook) {
          const result = await this.runLifecycleHandler(c, hook, graceMs);
          if (!result.ok) this.deps.log.warn('pre_stop_hook_failed', { pod: this.key, container: c.name, message: result.message });
        }
        await this.stopProcess(proc, Math.max(0, graceMs - (Date.now() - started)));
      }),
    );
  }

  private async stopSidecars(graceMs: number): Promise<void> {
    const sidecars = this.initContainers.filter((c) => c.kind === 'sidecar').reverse();
    for (const c of sidecars) {
      if (c.restartTimer) clearTimeout(c.restartTimer);
      c.restartTimer = undefined;
    }
    // sidecars go in reverse order of their start, after the app containers (KEP-753)
    for (const c of sidecars) await this.stopContainers([c], graceMs, true);
  }

  /**
   * Stops everything and removes the sandbox. `deleted`: the Pod has a deletionTimestamp and
   * its object is deleted (grace 0) at the end; `gone`: the object is already gone; `stop`: the
   * runner is stopping (short grace, the object stays).
   */
  terminate(cause: TerminationCause, graceOverrideMs?: number): Promise<void> {
    this.terminated ??= this.doTerminate(cause, graceOverrideMs);
    return this.terminated;
  }

  private async doTerminate(cause: TerminationCause, graceOverrideMs?: number): Promise<void> {
    this.terminating = true;
    this.signalTermination();
    this.notify();
    this.deps.log.info('pod_terminating', { pod: this.key, cause });
    await this.running;
    const grace = graceOverrideMs ?? this.graceMs();
    const deadline = Date.now() + grace;
    try {
      await this.stopContainers(this.containers, grace, cause !== 'stop');
      const regularInit = this.initContainers.filter((c) => c.kind === 'init');
      await this.stopContainers(regularInit, Math.max(0, deadline - Date.now()), false);
      // sidecars get what is left of the grace period, but at least a moment to exit cleanly
      await this.stopSidecars(Math.max(cause === 'stop' ? 200 : 1000, deadline - Date.now()));
    } catch (err) {
      this.deps.log.error('pod_stop_failed', { pod: this.key, error: err as Error });
    }
    this.volumes?.dispose();
    if (this.iface) {
      await this.deps.network.removePodInterface(this.iface.netns);
      this.deps.network.releaseAddress(this.iface.address);
    }
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
    if (this.iface) this.deps.log.info('pod_sandbox_removed', { pod: this.key, netns: this.iface.netns, hostLink: this.iface.hostLink });
    if (cause === 'deleted') await this.confirmDeletion();
    this.statusGone = true;
  }

  private async confirmDeletion(): Promise<void> {
    await this.flushStatus();
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await this.deps.core.deleteNamespacedPod({ name: this.name, namespace: this.namespace, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid: this.uid } } });
        this.deps.log.info('pod_deleted', { pod: this.key });
        return;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404 || code === 409) return;
        this.deps.log.warn('pod_delete_failed', { pod: this.key, error: err as Error });
        await delay(500);
      }
    }
  }

  // ---- status ----------------------------------------------------------------------------

  private async writeHostsFile(): Promise<void> {
    if (!this.iface) return;
    const content = renderHostsFile({ podIP: this.iface.address, hostname: this.name, hostAliases: this.pod.spec?.hostAliases ?? [], services: this.deps.services() });
    // in place (same inode): the file is bind-mounted into running containers
    await writeFile(this.hostsFile, content, { mode: 0o644 });
  }

  private syncVolumes(): void {
    if (!this.volumes || this.terminating) return;
    void this.volumes.sync().catch((err: unknown) => this.deps.log.error('volume_sync_failed', { pod: this.key, error: err as Error }));
  }

  private markDirty(): void {
    if (this.statusGone) return;
    this.statusDirty = true;
    if (!this.statusWriting) void this.writeStatusLoop();
  }

  private flushStatus(): Promise<void> {
    if (!this.statusWriting && !this.statusDirty) return Promise.resolve();
    return new Promise((resolve) => this.statusFlushed.push(resolve));
  }

  private initMessage(): string | undefined {
    if (this.initialized) return undefined;
    const incomplete = this.initContainers.filter((c) => (c.kind === 'sidecar' ? !c.started : !('terminated' in c.state && c.state.terminated.exitCode === 0)));
    return incomplete.length > 0 ? `containers with incomplete status: [${incomplete.map((c) => c.name).join(' ')}]` : undefined;
  }

  private async writeStatusLoop(): Promise<void> {
    this.statusWriting = true;
    let failures = 0;
    while (this.statusDirty && !this.statusGone) {
      this.statusDirty = false;
      const status = buildPodStatus(
        {
          phase: this.phase,
          ...(this.reason ? { reason: this.reason } : {}),
          ...(this.message ? { message: this.message } : {}),
          ...(this.iface ? { podIP: this.iface.address } : {}),
          hostIP: this.deps.network.gateway,
          startTime: this.startTime,
          initialized: this.initialized,
          ...(this.initMessage() ? { initMessage: this.initMessage() } : {}),
          initContainers: this.initContainers.map((c) => c.snapshot()),
          containers: this.containers.map((c) => c.snapshot()),
        },
        this.lastConditions,
      );
      try {
        await this.deps.core.patchNamespacedPodStatus(
          { name: this.name, namespace: this.namespace, body: { metadata: { uid: this.uid }, status } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        this.lastConditions = status['conditions'] as typeof this.lastConditions;
        failures = 0;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404 || code === 409) {
          // the object is gone (or replaced by a new pod of the same name)
          this.statusGone = true;
          break;
        }
        failures++;
        this.deps.log.warn('pod_status_write_failed', { pod: this.key, attempt: failures, error: err as Error });
        this.statusDirty = true;
        await delay(Math.min(200 * failures, 2000));
      }
    }
    this.statusWriting = false;
    const flushed = this.statusFlushed;
    this.statusFlushed = [];
    for (const f of flushed) f();
  }
}
