// injectPod over the fixture corpus and hand-made edge cases: shapes, probe rewrites, env,
// volumes, idempotence, and that the patch applies the way the API server applies it.
import assert from 'node:assert/strict';
import { Script } from 'node:vm';
import { describe, test } from 'node:test';
import {
  ADMIN_PORT,
  ANNOTATIONS,
  AnnotationError,
  applyJsonPatch,
  injectPod,
  INIT_CONTAINER_NAME,
  MESHED_LABEL,
  PodRejectedError,
  PodShapeError,
  PROXY_CONTAINER_NAME,
  type JsonPatchOperation,
} from '../src/patch/index.js';
import { containersOf, envOf, podFixtures, SKIPPED_FIXTURES, TEST_TRUST_ROOT_HASH, testContext, type Json } from './support/fixtures.js';

const PROBES = { liveness: 'livenessProbe', readiness: 'readinessProbe', startup: 'startupProbe' } as const;
const OUR_VOLUMES = ['reseal-token', 'reseal-trust-bundle', 'reseal-identity', 'reseal-tmp'];

function inject(pod: Json, context = testContext()): { patch: JsonPatchOperation[]; injected: Json } {
  const { patch, skippedReason } = injectPod(pod, context);
  assert.equal(skippedReason, undefined, 'expected the pod to be injected');
  assert.ok(patch.length > 0);
  return { patch, injected: applyJsonPatch(pod, patch) };
}

function proxyOf(pod: Json): Json {
  const proxy = [...containersOf(pod, 'initContainers'), ...containersOf(pod, 'containers')].find((c) => c.name === PROXY_CONTAINER_NAME);
  assert.ok(proxy, 'no reseal-proxy container');
  return proxy;
}

function appProbesOf(pod: Json): Record<string, Record<string, Json>> {
  const raw = envOf(proxyOf(pod)).RESEAL_APP_PROBES;
  return raw === undefined ? {} : (JSON.parse(raw as string) as Record<string, Record<string, Json>>);
}

describe('the fixture corpus', () => {
  const fixtures = podFixtures();
  test('has at least 20 pods', () => assert.ok(fixtures.length >= 20, `${fixtures.length} fixtures`));

  for (const { file, pod } of fixtures) {
    test(file, () => {
      const before = structuredClone(pod);
      const { patch, skippedReason } = injectPod(pod, testContext());
      assert.deepEqual(pod, before, 'injectPod must not modify its input');
      if (SKIPPED_FIXTURES[file]) {
        assert.deepEqual(patch, []);
        assert.equal(skippedReason, SKIPPED_FIXTURES[file]);
        return;
      }
      assert.equal(skippedReason, undefined);
      const injected = applyJsonPatch(pod, patch);
      const spec = injected.spec as Json;
      const podSpec = pod.spec as Json;

      // Order: reseal-init, reseal-proxy, then the app's init containers as they were.
      const inits = containersOf(injected, 'initContainers');
      assert.deepEqual(
        inits.map((c) => c.name),
        [INIT_CONTAINER_NAME, PROXY_CONTAINER_NAME, ...containersOf(pod, 'initContainers').map((c) => c.name)],
      );
      assert.deepEqual(
        containersOf(injected, 'containers').map((c) => c.name),
        containersOf(pod, 'containers').map((c) => c.name),
      );
      const proxy = inits[1] as Json;
      assert.equal(proxy.restartPolicy, 'Always');
      assert.deepEqual((proxy.startupProbe as Json).httpGet, { path: '/ready', port: ADMIN_PORT, scheme: 'HTTP' });
      assert.deepEqual((proxy.readinessProbe as Json).httpGet, { path: '/ready', port: ADMIN_PORT, scheme: 'HTTP' });
      assert.deepEqual((proxy.livenessProbe as Json).httpGet, { path: '/live', port: ADMIN_PORT, scheme: 'HTTP' });
      assert.deepEqual(proxy.securityContext, {
        runAsUser: 1337,
        runAsGroup: 1337,
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: ['ALL'] },
      });
      const init = inits[0] as Json;
      assert.deepEqual((init.securityContext as Json).capabilities, { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
      assert.equal((init.securityContext as Json).runAsUser, 0);

      // Metadata: the meshed label and markers added, everything else kept.
      const metadata = injected.metadata as Json;
      const original = pod.metadata as Json;
      assert.deepEqual(metadata.labels, { ...(original.labels as Json | undefined), [MESHED_LABEL]: 'true' });
      assert.deepEqual(metadata.annotations, {
        ...(original.annotations as Json | undefined),
        [ANNOTATIONS.injectedVersion]: '0.1.0',
        [ANNOTATIONS.trustRootHash]: TEST_TRUST_ROOT_HASH,
      });

      // Volumes: the pod's own first, then the sidecar's.
      assert.deepEqual(
        (spec.volumes as Json[]).map((v) => v.name),
        [...((podSpec.volumes as Json[] | undefined) ?? []).map((v) => v.name), ...OUR_VOLUMES],
      );

      // Probes: network probes point at the admin port with their timing kept; the
      // originals (ports resolved) travel in RESEAL_APP_PROBES; others are untouched.
      const appProbes = appProbesOf(injected);
      for (const [field, list] of [['containers', containersOf(pod, 'containers')], ['initContainers', containersOf(pod, 'initContainers')]] as const) {
        const after = containersOf(injected, field).filter((c) => c.name !== INIT_CONTAINER_NAME && c.name !== PROXY_CONTAINER_NAME);
        list.forEach((container, i) => {
          const now = after[i] as Json;
          for (const [kind, key] of Object.entries(PROBES)) {
            const probe = container[key] as Json | undefined;
            const rewritten = appProbes[container.name as string]?.[kind];
            if (!probe) {
              assert.equal(now[key], undefined);
              continue;
            }
            if (!rewritten) {
              assert.deepEqual(now[key], probe, `${container.name as string} ${kind} should be untouched`);
              continue;
            }
            const { httpGet: _h, tcpSocket: _t, grpc: _g, ...timing } = probe;
            assert.deepEqual(now[key], { ...timing, httpGet: { path: `/app-health/${container.name as string}/${kind}`, port: ADMIN_PORT, scheme: 'HTTP' } });
            const handler = (['httpGet', 'tcpSocket', 'grpc'] as const).find((h) => probe[h]);
            assert.ok(handler && rewritten[handler], `${kind}: the original handler is passed on`);
            assert.equal(typeof (rewritten[handler] as Json).port, 'number');
          }
        });
      }

      // Injecting the injected pod again is a no-op (reinvocationPolicy IfNeeded, `reseal inject` twice).
      const again = injectPod(injected, testContext());
      assert.deepEqual(again, { patch: [], skippedReason: 'already injected' });
    });
  }
});

describe('probe rewrites', () => {
  const fixture = (name: string): Json => {
    const found = podFixtures().find((f) => f.file === name);
    assert.ok(found, name);
    return found.pod;
  };

  test('named ports are resolved from the container ports', () => {
    const { injected } = inject(fixture('06-named-port-probes.yaml'));
    assert.deepEqual(appProbesOf(injected), { api: { liveness: { httpGet: { path: '/live', port: 9901 } }, readiness: { tcpSocket: { port: 8080 } } } });
  });

  test('HTTP headers, scheme and timeout go to the proxy; thresholds stay with kubelet', () => {
    const { injected } = inject(fixture('05-http-probes.yaml'));
    const probes = appProbesOf(injected).web ?? {};
    assert.deepEqual(probes.liveness, { httpGet: { path: '/healthz', port: 8080, httpHeaders: [{ name: 'X-Probe', value: 'liveness' }] }, timeoutSeconds: 2 });
    assert.deepEqual(probes.readiness, { httpGet: { path: '/ready', port: 8443, scheme: 'HTTPS' } });
    const web = containersOf(injected, 'containers')[0] as Json;
    assert.deepEqual(web.livenessProbe, {
      httpGet: { path: '/app-health/web/liveness', port: ADMIN_PORT, scheme: 'HTTP' },
      initialDelaySeconds: 5,
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold: 4,
      terminationGracePeriodSeconds: 15,
    });
  });

  test('gRPC probes keep their service', () => {
    const { injected } = inject(fixture('08-grpc-probes.yaml'));
    assert.deepEqual(appProbesOf(injected)['grpc-server']?.liveness, { grpc: { port: 50051, service: 'liveness' } });
  });

  test('exec probes, remote hosts and unknown named ports are left alone', () => {
    assert.equal(envOf(proxyOf(inject(fixture('09-exec-probes.yaml')).injected)).RESEAL_APP_PROBES, undefined);
    assert.deepEqual(Object.keys(appProbesOf(inject(fixture('21-probe-remote-host.yaml')).injected).app ?? {}), ['readiness']);
    assert.deepEqual(Object.keys(appProbesOf(inject(fixture('25-unresolvable-named-port.yaml')).injected).app ?? {}), ['readiness']);
  });

  test("the app's own native sidecar is probed through the admin port too; plain init containers have no probes", () => {
    const { injected } = inject(fixture('20-app-native-sidecar.yaml'));
    assert.deepEqual(appProbesOf(injected), { 'log-shipper': { readiness: { httpGet: { path: '/api/v1/health', port: 2020 } } } });
    const shipper = containersOf(injected, 'initContainers').find((c) => c.name === 'log-shipper') as Json;
    assert.deepEqual((shipper.readinessProbe as Json).httpGet, { path: '/app-health/log-shipper/readiness', port: ADMIN_PORT, scheme: 'HTTP' });
  });
});

describe('annotations', () => {
  const pod = (annotations: Record<string, string>, labels?: Record<string, string>): Json => ({
    metadata: { name: 'p', annotations, ...(labels ? { labels } : {}) },
    spec: { containers: [{ name: 'app', image: 'app' }] },
  });
  const init = (injected: Json): Json => containersOf(injected, 'initContainers')[0] as Json;

  test('inject-mode ingress: outbound capture only, and the proxy knows it', () => {
    const { injected } = inject(pod({ [ANNOTATIONS.injectMode]: 'ingress' }));
    assert.ok((init(injected).args as string[]).includes('--mode=ingress'));
    assert.equal(envOf(proxyOf(injected)).RESEAL_INJECT_MODE, 'ingress');
  });

  test('full mode by default', () => {
    const { injected } = inject(pod({}));
    assert.deepEqual(init(injected).args, ['--proxy-uid=1337', '--inbound-port=15006', '--outbound-port=15001', '--admin-port=15020', '--mode=full']);
    assert.equal(envOf(proxyOf(injected)).RESEAL_INJECT_MODE, 'full');
  });

  test('skip ports and CIDRs become reseal-init flags, deduplicated and canonical', () => {
    const { injected } = inject(
      pod({
        [ANNOTATIONS.skipInboundPorts]: ' 22, 80,22 ',
        [ANNOTATIONS.skipOutboundPorts]: '5432',
        [ANNOTATIONS.skipOutboundCidrs]: '169.254.169.254/32, FD00::/8',
      }),
    );
    const args = init(injected).args as string[];
    assert.ok(args.includes('--skip-inbound-ports=22,80'));
    assert.ok(args.includes('--skip-outbound-ports=5432'));
    assert.ok(args.includes('--skip-outbound-cidrs=169.254.169.254/32,fd00::/8'));
  });

  test('resources: defaults, overrides, and a lone request above the default limit raises the limit', () => {
    assert.deepEqual(proxyOf(inject(pod({})).injected).resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } });
    assert.deepEqual(proxyOf(inject(pod({ [ANNOTATIONS.proxyCpu]: '1500m', [ANNOTATIONS.proxyMemoryLimit]: '1Gi' })).injected).resources, {
      requests: { cpu: '1500m', memory: '64Mi' },
      limits: { cpu: '1500m', memory: '1Gi' },
    });
    assert.deepEqual(proxyOf(inject(pod({ [ANNOTATIONS.proxyMemoryLimit]: '32Mi' })).injected).resources, {
      requests: { cpu: '50m', memory: '32Mi' },
      limits: { cpu: '1', memory: '32Mi' },
    });
    const { injected } = inject(pod({ [ANNOTATIONS.proxyCpu]: '0.2', [ANNOTATIONS.proxyMemory]: '1e8' }));
    assert.deepEqual((init(injected).resources as Json).requests, { cpu: '0.2', memory: '1e8' }, 'reseal-init gets the same resources');
  });

  test('log level', () => {
    assert.equal(envOf(proxyOf(inject(pod({ [ANNOTATIONS.logLevel]: 'DEBUG' })).injected)).LOG_LEVEL, 'debug');
    assert.equal(envOf(proxyOf(inject(pod({})).injected)).LOG_LEVEL, 'info');
  });

  const invalid: [string, string, RegExp][] = [
    [ANNOTATIONS.injectMode, 'egress', /must be one of full, ingress/],
    [ANNOTATIONS.skipInboundPorts, '22,http', /"http", which is not a port/],
    [ANNOTATIONS.skipInboundPorts, '0', /not a port number/],
    [ANNOTATIONS.skipOutboundPorts, '65536', /not a port number/],
    [ANNOTATIONS.skipOutboundPorts, '80,,443', /empty item/],
    [ANNOTATIONS.skipOutboundCidrs, '10.0.0.1', /ADDRESS\/PREFIX/],
    [ANNOTATIONS.skipOutboundCidrs, '10.0.0.1/8', /host bits/],
    [ANNOTATIONS.skipOutboundCidrs, '300.0.0.0/8', /not an IPv4 or IPv6/],
    [ANNOTATIONS.proxyCpu, 'lots', /not a Kubernetes quantity/],
    [ANNOTATIONS.proxyCpu, '0', /less than 1m/],
    [ANNOTATIONS.proxyMemory, '128', /did you mean Mi/],
    [ANNOTATIONS.proxyMemoryLimit, '-1Gi', /not a Kubernetes quantity/],
    [ANNOTATIONS.logLevel, 'verbose', /must be one of trace/],
    [ANNOTATIONS.mtlsMode, 'OFF', /STRICT or PERMISSIVE/],
  ];
  for (const [annotation, value, message] of invalid) {
    test(`invalid ${annotation}: ${JSON.stringify(value)}`, () => {
      assert.throws(
        () => injectPod(pod({ [annotation]: value }), testContext()),
        (error: unknown) => error instanceof AnnotationError && error.annotation === annotation && error.message.includes(annotation) && message.test(error.message),
      );
    });
  }

  test('a request above its explicit limit names the annotation', () => {
    assert.throws(() => injectPod(pod({ [ANNOTATIONS.proxyMemory]: '512Mi', [ANNOTATIONS.proxyMemoryLimit]: '256Mi' }), testContext()), /reseal\.dev\/proxy-memory: "512Mi" exceeds reseal\.dev\/proxy-memory-limit/);
  });

  test('annotations of a skipped pod are not judged', () => {
    const result = injectPod(pod({ [ANNOTATIONS.injectMode]: 'bogus' }, { 'reseal.dev/inject': 'disabled' }), testContext());
    assert.deepEqual(result.patch, []);
  });
});

describe('skips and context', () => {
  const pod = (): Json => ({ metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: 'app' }] } });

  test("the mesh's own namespace", () => {
    assert.deepEqual(injectPod(pod(), testContext({ namespace: 'reseal-system' })), { patch: [], skippedReason: "namespace reseal-system is the mesh's own" });
  });

  test('a namespace labelled disabled, when its labels are known', () => {
    assert.equal(injectPod(pod(), testContext({ namespaceLabels: { 'reseal.dev/inject': 'disabled' } })).skippedReason, 'namespace labelled reseal.dev/inject=disabled');
  });

  test('a pod that already has reseal-init only (half-injected by hand) is not injected twice', () => {
    const p = pod();
    (p.spec as Json).initContainers = [{ name: INIT_CONTAINER_NAME, image: 'x' }];
    assert.equal(injectPod(p, testContext()).skippedReason, 'already injected');
  });

  test('the trust-root hash is recorded only when known', () => {
    const { injected } = inject(pod(), testContext({ trustRootHash: undefined }));
    assert.deepEqual((injected.metadata as Json).annotations, { [ANNOTATIONS.injectedVersion]: '0.1.0' });
  });

  test('keys with "/" are escaped as ~1 and maps are created when absent', () => {
    const { patch } = inject(pod());
    assert.deepEqual(patch.slice(0, 2), [
      { op: 'add', path: '/metadata/labels', value: { 'reseal.dev/meshed': 'true' } },
      { op: 'add', path: '/metadata/annotations', value: { 'reseal.dev/injected-version': '0.1.0', 'reseal.dev/trust-root-hash': TEST_TRUST_ROOT_HASH } },
    ]);
    const labelled = pod();
    (labelled.metadata as Json).labels = { app: 'x' };
    assert.deepEqual(inject(labelled).patch[0], { op: 'add', path: '/metadata/labels/reseal.dev~1meshed', value: 'true' });
  });

  test('a pod template without metadata gets one', () => {
    const { injected } = inject({ spec: { containers: [{ name: 'app', image: 'app' }] } });
    assert.equal(((injected.metadata as Json).labels as Json)[MESHED_LABEL], 'true');
  });

  test('a pod without a service account gets `default` named, as the ServiceAccount admission plugin would', () => {
    assert.equal(((inject(pod()).injected.spec as Json).serviceAccountName), 'default');
    const named = pod();
    (named.spec as Json).serviceAccountName = 'orders';
    assert.equal(((inject(named).injected.spec as Json).serviceAccountName), 'orders');
    const deprecated = pod();
    (deprecated.spec as Json).serviceAccount = 'legacy';
    assert.equal(inject(deprecated).patch.some((op) => op.path === '/spec/serviceAccountName'), false);
  });

  test('the same input gives the same patch', () => {
    assert.deepEqual(injectPod(pod(), testContext()), injectPod(pod(), testContext()));
  });

  test('a non-IP control-plane address is also the TLS server name', () => {
    const env = envOf(proxyOf(inject(pod(), testContext({ controlPlaneAddress: 'cp.mesh.svc:15012', trustDomain: 'example.org' })).injected));
    assert.equal(env.RESEAL_CONTROL_PLANE_ADDRESS, 'cp.mesh.svc:15012');
    assert.equal(env.RESEAL_CONTROL_PLANE_NAME, 'cp.mesh.svc');
    assert.equal(env.RESEAL_TRUST_DOMAIN, 'example.org');
    const byIp = envOf(proxyOf(inject(pod(), testContext({ controlPlaneAddress: '198.18.0.10:15012' })).injected));
    assert.equal(byIp.RESEAL_CONTROL_PLANE_NAME, undefined);
  });

  test('the proxy env and volumes follow the sidecar contract', () => {
    const { injected } = inject(pod());
    const env = envOf(proxyOf(injected));
    assert.deepEqual(env.POD_IP, { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } });
    assert.deepEqual(env.SERVICE_ACCOUNT, { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.serviceAccountName' } });
    assert.equal(env.RESEAL_TOKEN_FILE, '/var/run/secrets/reseal/token');
    assert.equal(env.RESEAL_TRUST_BUNDLE_FILE, '/var/run/reseal/trust-bundle/ca-bundle.pem');
    const volumes = Object.fromEntries(((injected.spec as Json).volumes as Json[]).map((v) => [v.name, v]));
    assert.deepEqual((volumes['reseal-token'] as Json).projected, { sources: [{ serviceAccountToken: { audience: 'reseal', expirationSeconds: 3600, path: 'token' } }] });
    assert.equal(((volumes['reseal-trust-bundle'] as Json).configMap as Json).name, 'reseal-trust-bundle');
    assert.deepEqual((volumes['reseal-identity'] as Json).emptyDir, { medium: 'Memory', sizeLimit: '1Mi' });
  });
});

describe('fallback for clusters without native sidecars', () => {
  const context = testContext({ nativeSidecars: false });

  test('the proxy is containers[0] with a postStart wait; reseal-init stays first of the init containers', () => {
    const pod = podFixtures().find((f) => f.file === '04-existing-init-containers.yaml')?.pod as Json;
    const { injected } = inject(pod, context);
    assert.deepEqual(containersOf(injected, 'initContainers').map((c) => c.name), [INIT_CONTAINER_NAME, 'wait-for-db', 'migrate']);
    assert.deepEqual(containersOf(injected, 'containers').map((c) => c.name), [PROXY_CONTAINER_NAME, 'app']);
    const proxy = containersOf(injected, 'containers')[0] as Json;
    assert.equal(proxy.restartPolicy, undefined);
    assert.equal(proxy.startupProbe, undefined);
    const command = ((proxy.lifecycle as Json).postStart as { exec: { command: string[] } }).exec.command;
    assert.equal(command[0], 'node');
    assert.doesNotThrow(() => new Script(command[2] as string), 'the wait script compiles');
    assert.equal(((injected.metadata as Json).annotations as Json)['kubectl.kubernetes.io/default-container'], 'app');
    assert.deepEqual(injectPod(injected, context), { patch: [], skippedReason: 'already injected' });
  });

  test('probe rewrites still address the right containers after the proxy is inserted', () => {
    const pod = podFixtures().find((f) => f.file === '10-mixed-probes.yaml')?.pod as Json;
    const { injected } = inject(pod, context);
    const [proxy, frontend, backend] = containersOf(injected, 'containers') as [Json, Json, Json];
    assert.equal(proxy.name, PROXY_CONTAINER_NAME);
    assert.equal(((frontend.readinessProbe as Json).httpGet as Json).path, '/app-health/frontend/readiness');
    assert.deepEqual(frontend.livenessProbe, { exec: { command: ['true'] } });
    assert.equal(((backend.startupProbe as Json).httpGet as Json).path, '/app-health/backend/startup');
  });
});

describe('malformed pods', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 'pod', /must be an object/],
    ['no spec', { metadata: {} }, /spec must be an object/],
    ['metadata is a list', { metadata: [], spec: {} }, /metadata must be an object/],
    ['containers is a string', { spec: { containers: 'app' } }, /spec.containers must be a list/],
    ['no containers', { spec: { containers: [] } }, /at least one container/],
    ['a container without a name', { spec: { containers: [{ image: 'x' }] } }, /containers\[0\] must be a container with a name/],
    ['labels is a number', { metadata: { labels: 7 }, spec: { containers: [{ name: 'a' }] } }, /metadata.labels must be a map/],
    ['an annotation is not a string', { metadata: { annotations: { a: 1 } }, spec: { containers: [{ name: 'a' }] } }, /metadata.annotations\["a"\] must be a string/],
    ['hostNetwork is a string', { spec: { hostNetwork: 'yes', containers: [{ name: 'a' }] } }, /hostNetwork must be a boolean/],
    ['volumes is an object', { spec: { volumes: {}, containers: [{ name: 'a' }] } }, /spec.volumes must be a list/],
    ['initContainers holds a number', { spec: { initContainers: [1], containers: [{ name: 'a' }] } }, /initContainers\[0\]/],
  ];
  for (const [name, pod, message] of cases) {
    test(name, () => assert.throws(() => injectPod(pod, testContext()), (error: unknown) => error instanceof PodShapeError && message.test(error.message)));
  }

  test('garbage inside a probe does not break injection', () => {
    const pod = {
      spec: {
        containers: [
          { name: 'a', livenessProbe: { httpGet: 'x' }, readinessProbe: { tcpSocket: { port: { nested: true } } }, startupProbe: 5 },
          // Probes the proxy's runner would refuse at start-up (taking the pod down) stay with kubelet.
          { name: 'b', livenessProbe: { httpGet: { path: '/a b', port: 80 } }, readinessProbe: { httpGet: { port: 80, httpHeaders: [{ name: 'X', value: 'a\r\nb' }] } } },
        ],
      },
    };
    const { injected } = inject(pod);
    assert.deepEqual(containersOf(injected, 'containers'), pod.spec.containers);
    assert.equal(envOf(proxyOf(injected)).RESEAL_APP_PROBES, undefined);
  });

  test('a volume named like the sidecar\'s is refused with a clear message', () => {
    const pod = { spec: { volumes: [{ name: 'reseal-token', emptyDir: {} }], containers: [{ name: 'a' }] } };
    assert.throws(() => injectPod(pod, testContext()), (error: unknown) => error instanceof PodRejectedError && /reseal-token/.test(error.message));
  });
});
