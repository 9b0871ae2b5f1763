// The pod status kubelet would report, computed from the runner's view of the pod. Pure: the
// worker hands in a snapshot and the previous conditions (to keep lastTransitionTime stable).

export type ContainerKind = 'init' | 'sidecar' | 'app';

export type ContainerStateJson =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; signal?: number; reason: string; message?: string; startedAt?: string; finishedAt: string; containerID?: string } };

export interface ContainerSnapshot {
  name: string;
  image: string;
  kind: ContainerKind;
  state: ContainerStateJson;
  lastState?: ContainerStateJson;
  ready: boolean;
  started: boolean;
  restartCount: number;
  containerID?: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export interface PodSnapshot {
  phase: PodPhase;
  reason?: string;
  message?: string;
  podIP?: string;
  hostIP: string;
  startTime: string;
  /** All regular init containers completed and native sidecars started. */
  initialized: boolean;
  /** Why Initialized is false, e.g. 'containers with incomplete status: [init-a]'. */
  initMessage?: string;
  initContainers: ContainerSnapshot[];
  containers: ContainerSnapshot[];
}

export interface PodConditionJson {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
  lastTransitionTime: string;
  lastProbeTime: null;
}

function containerStatusJson(c: ContainerSnapshot): Record<string, unknown> {
  return {
    name: c.name,
    image: c.image,
    imageID: '',
    ...(c.containerID ? { containerID: c.containerID } : {}),
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: c.state,
    lastState: c.lastState ?? {},
  };
}

export function buildPodStatus(pod: PodSnapshot, previous: readonly { type?: string; status?: string; lastTransitionTime?: string | Date }[] = [], now = new Date()): Record<string, unknown> {
  const terminal = pod.phase === 'Succeeded' || pod.phase === 'Failed';
  const notReady = [...pod.containers, ...pod.initContainers.filter((c) => c.kind === 'sidecar')].filter((c) => !c.ready).map((c) => c.name);
  const containersReady = !terminal && pod.initialized && notReady.length === 0;
  const unready = terminal
    ? { reason: 'PodCompleted' }
    : { reason: 'ContainersNotReady', message: `containers with unready status: [${notReady.join(' ')}]` };

  const wanted: Omit<PodConditionJson, 'lastTransitionTime' | 'lastProbeTime'>[] = [
    { type: 'PodScheduled', status: 'True' },
    pod.initialized ? { type: 'Initialized', status: 'True' } : { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', ...(pod.initMessage ? { message: pod.initMessage } : {}) },
    containersReady ? { type: 'ContainersReady', status: 'True' } : { type: 'ContainersReady', status: 'False', ...unready },
    containersReady ? { type: 'Ready', status: 'True' } : { type: 'Ready', status: 'False', ...unready },
  ];
  const conditions: PodConditionJson[] = wanted.map((c) => {
    const before = previous.find((p) => p.type === c.type);
    const since = before && before.status === c.status && before.lastTransitionTime ? new Date(before.lastTransitionTime).toISOString() : now.toISOString();
    return { ...c, lastTransitionTime: since, lastProbeTime: null };
  });

  return {
    phase: pod.phase,
    // null removes a reason/message left from an earlier state (the status is merge-patched)
    reason: pod.reason ?? null,
    message: pod.message ?? null,
    hostIP: pod.hostIP,
    hostIPs: [{ ip: pod.hostIP }],
    ...(pod.podIP ? { podIP: pod.podIP, podIPs: [{ ip: pod.podIP }] } : {}),
    startTime: pod.startTime,
    conditions,
    initContainerStatuses: pod.initContainers.map(containerStatusJson),
    containerStatuses: pod.containers.map(containerStatusJson),
  };
}
