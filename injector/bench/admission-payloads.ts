// AdmissionReviews shaped like what kube-apiserver sends for a ReplicaSet's pod: defaulted
// fields, the kube-api-access volume, ownerReferences and managedFields; 3-6 KB each.

import { randomUUID } from 'node:crypto';

function container(name: string, port: number, envCount: number): Record<string, unknown> {
  return {
    name,
    image: `registry.example/shop/${name}:1.${port % 7}.3`,
    imagePullPolicy: 'IfNotPresent',
    ports: [
      { name: 'http', containerPort: port, protocol: 'TCP' },
      { name: 'metrics', containerPort: port + 1000, protocol: 'TCP' },
    ],
    env: Array.from({ length: envCount }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}-${'x'.repeat(12)}` })),
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    readinessProbe: { httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 5, successThreshold: 1, failureThreshold: 3 },
    livenessProbe: { tcpSocket: { port: port }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/app', readOnly: true },
      { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
  };
}

export function podAdmissionReview(containers: number, envCount: number): Record<string, unknown> {
  const pod = {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      generateName: 'storefront-6d4cf56db6-',
      namespace: 'shop',
      uid: randomUUID(),
      creationTimestamp: '2025-01-01T00:00:00Z',
      labels: { app: 'storefront', 'app.kubernetes.io/name': 'storefront', 'app.kubernetes.io/part-of': 'shop', 'pod-template-hash': '6d4cf56db6' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-01-01T00:00:00Z', 'prometheus.io/scrape': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'storefront-6d4cf56db6', uid: randomUUID(), controller: true, blockOwnerDeletion: true }],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2025-01-01T00:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': {} }, 'f:spec': { 'f:containers': {} } },
        },
      ],
    },
    spec: {
      volumes: [
        { name: 'config', configMap: { name: 'storefront-config', defaultMode: 420 } },
        {
          name: 'kube-api-access-x7k2p',
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
            ],
            defaultMode: 420,
          },
        },
      ],
      containers: Array.from({ length: containers }, (_, i) => container(i === 0 ? 'storefront' : `helper-${i}`, 8080 + i, envCount)),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'storefront',
      serviceAccount: 'storefront',
      securityContext: { runAsNonRoot: true, runAsUser: 1000, fsGroup: 2000 },
      schedulerName: 'default-scheduler',
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: { phase: 'Pending', qosClass: 'Burstable' },
  };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: randomUUID(), groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

/** A spread of pod sizes between 3 and 6 KB. */
export function benchPayloads(): Buffer[] {
  const shapes: [number, number][] = [
    [1, 2],
    [1, 12],
    [2, 2],
    [2, 8],
    [3, 2],
  ];
  return shapes.map(([containers, env]) => Buffer.from(JSON.stringify(podAdmissionReview(containers, env))));
}
