// The runner's pure rules: which pod features it refuses, how a container's argv and env are
// built (Kubernetes' documented rules), the hosts file, volume contents and atomic writes.
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readlink, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { V1Container, V1EndpointSlice, V1Pod } from '@kubernetes/client-node';
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { writeAtomically } from '../src/runner/atomic-writer.js';
import { decodeHealthCheckStatus, encodeHealthCheckRequest, grpcHealthCheck } from '../src/runner/grpc-health-probe.js';
import { resolveContainerArgv } from '../src/runner/container-command.js';
import { resolveContainerEnv, type EnvContext } from '../src/runner/container-env.js';
import { enterScript, envFileContents, startScript } from '../src/runner/container-launcher.js';
import { renderHostsFile, serviceAddresses } from '../src/runner/hosts-file.js';
import { imageRepository, lookupImage, type ImageTable } from '../src/runner/image-table.js';
import { acceptedButNotEnforced, unsupportedPodFeatures } from '../src/runner/pod-features.js';
import { buildPodStatus } from '../src/runner/pod-status.js';
import { nextBackoffMs } from '../src/runner/restart-backoff.js';
import { refreshTime, tokenRequestBody } from '../src/runner/service-account-tokens.js';
import { expandVariables } from '../src/runner/variable-expansion.js';
import { volumeContents, type VolumeLookup } from '../src/runner/volume-contents.js';

const images: ImageTable = {
  'reseal-e2e/fixture': { entrypoint: ['/bin/node', '/app.js'], cmd: ['serve'], commands: { 'reseal-proxy': ['/bin/node', '/proxy.js'] }, env: { FROM_IMAGE: 'yes', PATH: '/image/bin' } },
  'ghcr.io/reseal/sidecar': { entrypoint: [] },
};

function pod(spec: Partial<V1Pod['spec']> & object, meta: Partial<V1Pod['metadata']> = {}): V1Pod {
  return {
    metadata: { name: 'web-1', namespace: 'shop', uid: 'uid-123', labels: { app: 'web', tier: 'b' }, annotations: { note: 'x"y' }, ...meta },
    spec: { containers: [{ name: 'app', image: 'reseal-e2e/fixture:1' }], ...spec },
  };
}

describe('unsupportedPodFeatures', () => {
  test('a plain pod with supported volumes and probes is accepted', () => {
    const p = pod({
      volumes: [
        { name: 'a', emptyDir: {} },
        { name: 'b', configMap: { name: 'cm' } },
        { name: 'c', projected: { sources: [{ serviceAccountToken: { path: 't', audience: 'reseal' } }, { downwardAPI: { items: [{ path: 'n', fieldRef: { fieldPath: 'metadata.name' } }] } }] } },
      ],
      initContainers: [{ name: 'proxy', image: 'ghcr.io/reseal/sidecar:v1', restartPolicy: 'Always', startupProbe: { httpGet: { path: '/ready', port: 15020 } } } as V1Container],
      containers: [{ name: 'app', image: 'docker.io/reseal-e2e/fixture@sha256:abc', readinessProbe: { tcpSocket: { port: 80 } }, volumeMounts: [{ name: 'a', mountPath: '/tmp/a' }] }],
    });
    assert.deepEqual(unsupportedPodFeatures(p, { images, pathExists: () => false }), []);
  });

  test('names every unsupported feature', () => {
    const p = pod({
      hostNetwork: true,
      hostPID: true,
      volumes: [
        { name: 'host', hostPath: { path: '/etc' } },
        { name: 'data', persistentVolumeClaim: { claimName: 'x' } },
      ],
      containers: [
        {
          name: 'app',
          image: 'nginx:1.27',
          envFrom: [{ configMapRef: { name: 'cm' } }],
          ports: [{ containerPort: 80, hostPort: 8080 }],
          lifecycle: { postStart: { tcpSocket: { port: 9000 } } },
          env: [{ name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } }],
          volumeMounts: [{ name: 'host', mountPath: '/srv/nowhere' }],
        },
      ],
    });
    const features = unsupportedPodFeatures(p, { images, pathExists: (path) => path === '/etc' });
    for (const expected of [
      'spec.hostNetwork',
      'spec.hostPID',
      'volumes[host].hostPath',
      'volumes[data].persistentVolumeClaim',
      'containers[app].image(nginx:1.27: not in the runner\'s image table)',
      'containers[app].ports[0].hostPort',
      'containers[app].lifecycle.postStart.tcpSocket',
      'containers[app].env[0](MEM).valueFrom.resourceFieldRef',
    ]) {
      assert.ok(features.includes(expected), `${expected} missing from ${JSON.stringify(features)}`);
    }
    assert.ok(features.some((f) => f.startsWith('containers[app].volumeMounts[0](/srv/nowhere).mountPath')), JSON.stringify(features));
    // envFrom is implemented, so it is not in the list
    assert.ok(!features.some((f) => f.includes('envFrom')));
  });

  test('restartPolicy on a regular container is refused; resources are accepted but reported', () => {
    const p = pod({ containers: [{ name: 'app', image: 'reseal-e2e/fixture', restartPolicy: 'Always', resources: { limits: { cpu: '1' } } } as V1Container], nodeSelector: { a: 'b' } });
    assert.deepEqual(unsupportedPodFeatures(p, { images }), ['containers[app].restartPolicy(Always)']);
    assert.deepEqual(acceptedButNotEnforced(p), ['spec.nodeSelector', 'containers[app].resources']);
  });
});

describe('container argv (command/args vs ENTRYPOINT/CMD)', () => {
  const image = images['reseal-e2e/fixture']!;
  test('neither: ENTRYPOINT + CMD', () => assert.deepEqual(resolveContainerArgv({}, image), ['/bin/node', '/app.js', 'serve']));
  test('args only: ENTRYPOINT + args', () => assert.deepEqual(resolveContainerArgv({ args: ['record', 'f'] }, image), ['/bin/node', '/app.js', 'record', 'f']));
  test('command only: command, CMD ignored', () => assert.deepEqual(resolveContainerArgv({ command: ['/bin/sh', '-c', 'true'] }, image), ['/bin/sh', '-c', 'true']));
  test('both: command + args', () => assert.deepEqual(resolveContainerArgv({ command: ['/bin/echo'], args: ['a'] }, image), ['/bin/echo', 'a']));
  test('command[0] is mapped through the image table, by name or basename', () => {
    assert.deepEqual(resolveContainerArgv({ command: ['reseal-proxy'], args: ['--x'] }, image), ['/bin/node', '/proxy.js', '--x']);
    assert.deepEqual(resolveContainerArgv({ command: ['/usr/local/bin/reseal-proxy'] }, image), ['/bin/node', '/proxy.js']);
  });
  test('$(VAR) in command and args expands from the container env', () => {
    assert.deepEqual(resolveContainerArgv({ command: ['/bin/echo', '$(NAME)'], args: ['$$(NAME)', '$(MISSING)'] }, image, { NAME: 'web' }), ['/bin/echo', 'web', '$(NAME)', '$(MISSING)']);
  });
  test('image repositories ignore tag, digest, docker.io and library/', () => {
    assert.equal(imageRepository('docker.io/library/nginx:1.27@sha256:aa'), 'nginx');
    assert.equal(imageRepository('registry:5000/a/b:tag'), 'registry:5000/a/b');
    assert.ok(lookupImage(images, 'ghcr.io/reseal/sidecar@sha256:ff'));
    assert.equal(lookupImage(images, 'ghcr.io/reseal/other:1'), undefined);
  });
});

describe('container env', () => {
  const ctx: EnvContext = {
    apiServer: { host: '198.18.20.1', port: 6443 },
    podIP: '198.18.20.10',
    hostIP: '198.18.20.1',
    nodeName: 'node-a',
    uid: 1000,
    configMap: (_ns, name) => (name === 'cm' ? { data: { greeting: 'hello', other: 'o' } } : undefined),
    secret: (_ns, name) => (name === 's' ? { data: { password: Buffer.from('pw').toString('base64') } } : undefined),
  };

  test('fieldRefs, config refs, expansion, kubelet variables and image env', () => {
    const container: V1Container = {
      name: 'app',
      envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
        { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cm', key: 'greeting' } } },
        { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 's', key: 'password' } } },
        { name: 'OPTIONAL', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } },
        { name: 'COMPOSED', value: '$(POD_NAME).$(POD_NS):$(KUBERNETES_SERVICE_PORT)/$(UNDEFINED)' },
        { name: 'PATH', value: '/custom/bin' },
      ],
    };
    const result = resolveContainerEnv(pod({ serviceAccountName: 'web' }), container, images['reseal-e2e/fixture']!, ctx);
    assert.ok(result.ok);
    const env = result.env;
    assert.equal(env['POD_NAME'], 'web-1');
    assert.equal(env['POD_NS'], 'shop');
    assert.equal(env['POD_UID'], 'uid-123');
    assert.equal(env['POD_IP'], '198.18.20.10');
    assert.equal(env['HOST_IP'], '198.18.20.1');
    assert.equal(env['SA'], 'web');
    assert.equal(env['NODE'], 'node-a');
    assert.equal(env['TIER'], 'b');
    assert.equal(env['GREETING'], 'hello');
    assert.equal(env['CM_other'], 'o');
    assert.equal(env['PASSWORD'], 'pw');
    assert.equal('OPTIONAL' in env, false);
    assert.equal(env['COMPOSED'], 'web-1.shop:6443/$(UNDEFINED)');
    assert.equal(env['KUBERNETES_SERVICE_HOST'], '198.18.20.1');
    assert.equal(env['KUBERNETES_SERVICE_PORT'], '6443');
    assert.equal(env['FROM_IMAGE'], 'yes');
    assert.equal(env['PATH'], '/custom/bin', 'container env overrides image env');
    assert.equal(env['HOSTNAME'], 'web-1');
    assert.equal(env['HOME'], '/');
  });

  test('a missing non-optional source is a CreateContainerConfigError', () => {
    const result = resolveContainerEnv(pod({}), { name: 'app', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'absent', key: 'k' } } }] }, images['reseal-e2e/fixture']!, ctx);
    assert.deepEqual(result, { ok: false, reason: 'CreateContainerConfigError', message: 'configmap "absent" not found' });
  });

  test('expandVariables follows Kubernetes: $$ escapes, unknown stays, bare $ is literal', () => {
    assert.equal(expandVariables('$(A)-$$(A)-$(B)-$A-$', { A: '1' }), '1-$(A)-$(B)-$A-$');
  });
});

describe('volumes, hosts file, status, tokens', () => {
  const lookup: VolumeLookup = {
    podIP: '198.18.20.10',
    configMap: (name) => (name === 'cm' ? { data: { a: 'A', b: 'B' } } : undefined),
    secret: (name) => (name === 's' ? { data: { k: Buffer.from('secret').toString('base64') } } : undefined),
    token: (volume, index) => (volume === 'tok' && index === 0 ? 'jwt' : undefined),
  };

  test('configMap items, secret, downwardAPI and projected token with kubelet modes and ownership', () => {
    const p = pod({ securityContext: { runAsUser: 1000 } });
    const cm = volumeContents(p, { name: 'c', configMap: { name: 'cm', items: [{ key: 'b', path: 'dir/b.txt', mode: 0o600 }], defaultMode: 0o640 } }, lookup);
    assert.ok(cm.ok);
    assert.deepEqual([...cm.files.entries()].map(([k, v]) => [k, v.data.toString(), v.mode]), [['dir/b.txt', 'B', 0o600]]);
    const labels = volumeContents(p, { name: 'd', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'ann', fieldRef: { fieldPath: 'metadata.annotations' } }] } }, lookup);
    assert.ok(labels.ok);
    assert.equal(labels.files.get('labels')?.data.toString(), 'app="web"\ntier="b"');
    assert.equal(labels.files.get('ann')?.data.toString(), 'note="x\\"y"');
    const tok = volumeContents(p, { name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token' } }, { secret: { name: 's' } }] } }, lookup);
    assert.ok(tok.ok);
    assert.deepEqual(tok.files.get('token'), { data: Buffer.from('jwt'), mode: 0o600, uid: 1000 });
    assert.equal(tok.files.get('k')?.data.toString(), 'secret');
  });

  test('missing non-optional references are waited for; optional ones are empty', () => {
    const missing = volumeContents(pod({}), { name: 'c', configMap: { name: 'later' } }, lookup);
    assert.deepEqual(missing, { ok: false, waitingFor: ['configmap "later" not found'] });
    const optional = volumeContents(pod({}), { name: 'c', secret: { secretName: 'later', optional: true } }, lookup);
    assert.ok(optional.ok && optional.files.size === 0);
  });

  test('hosts file lists services with a ready endpoint', () => {
    const slice = (name: string, svc: string, ns: string, endpoints: { addresses: string[]; conditions?: { ready?: boolean } }[]): V1EndpointSlice => ({
      metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
      addressType: 'IPv4',
      endpoints,
    });
    const services = serviceAddresses([
      slice('web-b', 'web', 'shop', [{ addresses: ['198.18.20.12'] }]),
      slice('web-a', 'web', 'shop', [{ addresses: ['198.18.20.11'], conditions: { ready: false } }, { addresses: ['198.18.20.13'], conditions: { ready: true } }]),
      slice('down', 'down', 'shop', [{ addresses: ['198.18.20.14'], conditions: { ready: false } }]),
    ]);
    assert.deepEqual(services, [{ namespace: 'shop', name: 'web', address: '198.18.20.13' }]);
    const hosts = renderHostsFile({ podIP: '198.18.20.10', hostname: 'web-1', services });
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(hosts, /^198\.18\.20\.10\tweb-1$/m);
    assert.match(hosts, /^198\.18\.20\.13\tweb\.shop\.svc web\.shop\.svc\.cluster\.local$/m);
  });

  test('status conditions keep lastTransitionTime while unchanged', () => {
    const base = { phase: 'Running' as const, hostIP: '198.18.20.1', podIP: '198.18.20.10', startTime: 't', initialized: true, initContainers: [] };
    const app = { name: 'app', image: 'i', kind: 'app' as const, state: { running: { startedAt: 't' } }, started: true, restartCount: 0 };
    const first = buildPodStatus({ ...base, containers: [{ ...app, ready: false }] }, [], new Date('2025-01-01T00:00:00Z'));
    const conditions = first['conditions'] as { type: string; status: string; lastTransitionTime: string }[];
    assert.equal(conditions.find((c) => c.type === 'Ready')?.status, 'False');
    const second = buildPodStatus({ ...base, containers: [{ ...app, ready: true }] }, conditions, new Date('2025-01-01T00:00:05Z'));
    const after = second['conditions'] as typeof conditions;
    assert.equal(after.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal(after.find((c) => c.type === 'Ready')?.lastTransitionTime, '2025-01-01T00:00:05.000Z');
    assert.equal(after.find((c) => c.type === 'PodScheduled')?.lastTransitionTime, '2025-01-01T00:00:00.000Z');
    assert.deepEqual(second['podIPs'], [{ ip: '198.18.20.10' }]);
  });

  test('token requests are bound to the pod and refreshed at 80% of their lifetime', () => {
    const body = tokenRequestBody(pod({}), { path: 't', expirationSeconds: 60 }) as { spec: Record<string, unknown> };
    assert.deepEqual(body.spec, { audiences: [], expirationSeconds: 600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web-1', uid: 'uid-123' } });
    assert.equal(refreshTime(0, 1000_000), 800_000);
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => nextBackoffMs(n)), [1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  test('launcher scripts quote everything and switch user with setpriv', () => {
    const spec = {
      label: "shop/we'b/app",
      hostname: 'web-1',
      hostsFile: '/var/tmp/x/hosts',
      resolvConf: '/var/tmp/x/resolv.conf',
      mounts: [{ source: "/var/tmp/x/volumes/it's", target: '/var/run/secrets/x', readOnly: true }],
      workingDir: '/',
      envFile: '/var/tmp/x/env',
      uid: 1000,
      gid: 1000,
      supplementalGroups: [],
      addCapabilities: ['NET_ADMIN'],
      noNewPrivileges: true,
      setprivPath: '/usr/bin/setpriv',
      keepVisible: [{ path: '/tmp/checkout', stage: '/var/tmp/x/keep-visible-0' }],
    };
    const start = startScript(spec, '/var/tmp/x/enter.sh');
    assert.match(start, /mount --bind '\/var\/tmp\/x\/volumes\/it'\\''s' '\/var\/run\/secrets\/x'/);
    // A checkout under /tmp is parked before /tmp is replaced and bound back after the volumes.
    const lines = start.split('\n');
    const park = lines.indexOf("mount --bind '/tmp/checkout' '/var/tmp/x/keep-visible-0'");
    const tmpfs = lines.findIndex((l) => l.includes('tmpfs /tmp'));
    const volume = lines.findIndex((l) => l.includes("'/var/run/secrets/x'") && l.startsWith('mount --bind'));
    const restore = lines.indexOf("mount --bind '/var/tmp/x/keep-visible-0' '/tmp/checkout'");
    assert.ok(park >= 0 && park < tmpfs && tmpfs < volume && volume < restore, start);
    assert.match(start, /mount -o remount,bind,ro '\/var\/run\/secrets\/x'/);
    assert.match(enterScript(spec), /'\/usr\/bin\/setpriv' --reuid=1000 --regid=1000 --clear-groups --inh-caps=\+net_admin --ambient-caps=\+net_admin --no-new-privs -- "\$@"/);
    assert.equal(envFileContents({ A: '1', B: 'x=y' }), 'A=1\0B=x=y\0');
  });
});

describe('atomic writer', () => {
  test('swaps ..data by rename, links each file through it and removes what is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rse2e-atomic-'));
    try {
      const files = (entries: Record<string, string>): Map<string, { data: Buffer; mode: number }> => new Map(Object.entries(entries).map(([k, v]) => [k, { data: Buffer.from(v), mode: 0o644 }]));
      assert.equal(await writeAtomically(dir, files({ a: '1', 'sub/b': '2' })), true);
      const first = await readlink(join(dir, '..data'));
      assert.match(first, /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\./);
      assert.equal(await readlink(join(dir, 'a')), '..data/a');
      assert.equal(await readFile(join(dir, 'sub', 'b'), 'utf8'), '2');
      assert.equal((await stat(join(dir, 'a'))).mode & 0o777, 0o644);

      assert.equal(await writeAtomically(dir, files({ a: '1', 'sub/b': '2' })), false, 'unchanged content is not rewritten');
      assert.equal(await writeAtomically(dir, files({ a: 'new' })), true);
      const second = await readlink(join(dir, '..data'));
      assert.notEqual(second, first);
      assert.equal(await readFile(join(dir, 'a'), 'utf8'), 'new');
      await assert.rejects(lstat(join(dir, 'sub')));
      assert.deepEqual((await readdir(dir)).sort(), ['..data', second, 'a'].sort());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('gRPC health probe', () => {
  test('frames the request and reads the status', () => {
    assert.deepEqual(encodeHealthCheckRequest(''), Buffer.from([0, 0, 0, 0, 0]));
    assert.deepEqual(encodeHealthCheckRequest('ab'), Buffer.from([0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]));
    assert.equal(decodeHealthCheckStatus(Buffer.from([0, 0, 0, 0, 2, 0x08, 1])), 1);
    assert.equal(decodeHealthCheckStatus(Buffer.from([0, 0, 0, 0, 0])), 0);
  });

  test('talks to an HTTP/2 gRPC health service', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const service = body.length > 7 ? body.subarray(7).toString('utf8') : '';
        seen.push(`${req.url} ${service}`);
        res.writeHead(200, { 'content-type': 'application/grpc' });
        res.addTrailers({ 'grpc-status': '0' });
        res.end(Buffer.from([0, 0, 0, 0, 2, 0x08, service === 'down' ? 2 : 1]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      assert.equal((await grpcHealthCheck('127.0.0.1', port, '', 2000)).ok, true);
      const down = await grpcHealthCheck('127.0.0.1', port, 'down', 2000);
      assert.deepEqual(down, { ok: false, message: `gRPC probe 127.0.0.1:${port}: status 2` });
      assert.deepEqual(seen, ['/grpc.health.v1.Health/Check ', '/grpc.health.v1.Health/Check down']);
      server.close();
      assert.equal((await grpcHealthCheck('127.0.0.1', port, '', 1000)).ok, false, 'nothing listening');
    } finally {
      server.close();
    }
  });
});
