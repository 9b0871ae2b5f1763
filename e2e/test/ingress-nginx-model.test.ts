// build-model.ts (API objects → model), worker-user.ts and config.ts: pure, no cluster.
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1EndpointSlice, V1Ingress, V1Secret, V1Service } from '@kubernetes/client-node';
import { buildModel, ingressesOfClass, type ClusterState } from '../apps/ingress-nginx/build-model.js';
import { parseConfig } from '../apps/ingress-nginx/config.js';
import { readTlsSecret } from '../apps/ingress-nginx/tls-secret.js';
import { selfSignedCertificate } from '../apps/ingress-nginx/work-dir.js';
import { resolveWorkerUser } from '../apps/ingress-nginx/worker-user.js';

function ingress(name: string, spec: V1Ingress['spec'], extra: Partial<V1Ingress['metadata']> = {}): V1Ingress {
  return { metadata: { namespace: 'shop', name, creationTimestamp: new Date('2025-01-01T00:00:00Z'), ...extra }, spec: { ingressClassName: 'nginx', ...spec } };
}

function service(name: string, ports: { name?: string; port: number; targetPort?: number }[], type = 'ClusterIP'): V1Service {
  return { metadata: { namespace: 'shop', name }, spec: { type, ports: ports.map((p) => ({ ...p, protocol: 'TCP' })) } };
}

function slice(name: string, serviceName: string, ports: { name: string; port: number }[], endpoints: { ip: string; ready?: boolean }[]): V1EndpointSlice {
  return {
    metadata: { namespace: 'shop', name, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }) })),
  };
}

const route = (host: string, path: string, svc: string, port: { number?: number; name?: string }, pathType = 'Prefix') => ({
  host,
  http: { paths: [{ path, pathType, backend: { service: { name: svc, port } } }] },
});

describe('ingress-nginx buildModel', () => {
  let dir: string;
  let tlsSecret: V1Secret;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ingress-nginx-model-'));
    const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
    await selfSignedCertificate(files, 'shop.example', ['shop.example']);
    tlsSecret = {
      metadata: { namespace: 'shop', name: 'shop-tls' },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': (await readFile(files.cert)).toString('base64'),
        'tls.key': (await readFile(files.key)).toString('base64'),
      },
    };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const base = (): ClusterState => ({
    ingresses: [
      ingress('web', {
        tls: [{ hosts: ['shop.example'], secretName: 'shop-tls' }],
        rules: [route('shop.example', '/', 'web', { name: 'http' })],
      }),
    ],
    secrets: [tlsSecret],
    services: [service('web', [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 9090 }])],
    endpointSlices: [
      slice('web-a', 'web', [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9090 }], [
        { ip: '10.0.0.9' },
        { ip: '10.0.0.7', ready: true },
        { ip: '10.0.0.8', ready: false },
      ]),
      slice('web-b', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.0.1.1' }]),
      slice('other', 'other', [{ name: 'http', port: 8080 }], [{ ip: '10.9.9.9' }]),
    ],
  });

  it('routes a host to the ready pod addresses of the service port, by port name, from every slice', () => {
    const { model, warnings } = buildModel(base(), 'nginx');
    assert.deepEqual(warnings, []);
    assert.deepEqual(model.upstreams, [{ name: 'shop-web-80', addresses: ['10.0.0.7:8080', '10.0.0.9:8080', '10.0.1.1:8080'] }]);
    assert.equal(model.servers.length, 1);
    assert.deepEqual(model.servers[0]!.locations, [
      { path: '/', pathType: 'Prefix', backend: { kind: 'upstream', upstream: 'shop-web-80' }, source: 'shop/web' },
    ]);
  });

  it('resolves a service port given by number to its named slice port', () => {
    const state = base();
    state.ingresses = [ingress('web', { rules: [route('shop.example', '/', 'web', { number: 9090 })] })];
    assert.deepEqual(buildModel(state, 'nginx').model.upstreams, [{ name: 'shop-web-9090', addresses: ['10.0.0.7:9090', '10.0.0.9:9090'] }]);
  });

  it('gives the host the Secret\'s certificate, with the key material only in the certificates map', () => {
    const { model, certificates } = buildModel(base(), 'nginx');
    const id = model.servers[0]!.certificate!;
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.ok(certificates.get(id)!.keyPem.includes('PRIVATE KEY'));
    assert.ok(!JSON.stringify(model).includes('PRIVATE KEY'));
    assert.equal(model.servers[0]!.sslRedirect, true);
  });

  it('serves the default certificate when the Secret is missing or broken, with a warning', () => {
    const missing = base();
    missing.secrets = [];
    const built = buildModel(missing, 'nginx');
    assert.equal(built.model.servers[0]!.certificate, undefined);
    assert.match(built.warnings[0]!.reason, /shop-tls not found/);

    const broken = base();
    broken.secrets = [{ ...tlsSecret, data: { ...tlsSecret.data, 'tls.key': Buffer.from('nope').toString('base64') } }];
    const built2 = buildModel(broken, 'nginx');
    assert.equal(built2.model.servers[0]!.certificate, undefined);
    assert.match(built2.warnings[0]!.reason, /unreadable certificate or key/);
    assert.ok(!JSON.stringify(built2.warnings).includes('nope'));
  });

  it('answers 503 when the service, its port or its ready endpoints are missing', () => {
    for (const [mutate, reason] of [
      [(s: ClusterState) => (s.services = []), /service web not found/],
      [(s: ClusterState) => (s.services = [service('web', [{ name: 'grpc', port: 81 }])]), /has no port "http"/],
      [(s: ClusterState) => (s.endpointSlices = []), /no ready endpoints/],
      [(s: ClusterState) => (s.endpointSlices = [slice('web-a', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.0.0.8', ready: false }])]), /no ready endpoints/],
      [(s: ClusterState) => (s.services = [service('web', [{ name: 'http', port: 80 }], 'ExternalName')]), /ExternalName/],
    ] as const) {
      const state = base();
      mutate(state);
      const { model, warnings } = buildModel(state, 'nginx');
      assert.deepEqual(model.servers[0]!.locations[0]!.backend, { kind: 'status', status: 503 });
      assert.deepEqual(model.upstreams, []);
      assert.match(warnings.map((w) => w.reason).join('\n'), reason);
    }
  });

  it('only takes Ingresses of its class (spec.ingressClassName, else the legacy annotation)', () => {
    const state = base();
    state.ingresses = [
      ingress('theirs', { ingressClassName: 'traefik', rules: [route('a.example', '/', 'web', { name: 'http' })] }),
      ingress('legacy', { ingressClassName: undefined, rules: [route('b.example', '/', 'web', { name: 'http' })] }, { annotations: { 'kubernetes.io/ingress.class': 'nginx' } }),
      ingress('none', { ingressClassName: undefined, rules: [route('c.example', '/', 'web', { name: 'http' })] }),
    ];
    assert.deepEqual(buildModel(state, 'nginx').model.servers.map((s) => s.host), ['b.example']);
    assert.deepEqual(ingressesOfClass(state.ingresses, 'traefik').map((i) => i.metadata!.name), ['theirs']);
  });

  it('merges Ingresses of the same host oldest first, and sends host-less rules and default backends to the catch-all', () => {
    const state = base();
    state.ingresses = [
      ingress('newer', { rules: [route('shop.example', '/api', 'web', { name: 'http' }, 'Exact')] }, { creationTimestamp: new Date('2025-02-01T00:00:00Z') }),
      ingress('older', { rules: [route('shop.example', '/', 'web', { name: 'http' }), route('', '/any', 'web', { name: 'http' })] }),
      ingress('fallback', { defaultBackend: { service: { name: 'web', port: { number: 80 } } } }, { creationTimestamp: new Date('2025-03-01T00:00:00Z') }),
      ingress('nossl', { rules: [route('shop.example', '/x', 'web', { name: 'http' })] }, { annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' }, creationTimestamp: new Date('2025-01-15T00:00:00Z') }),
    ];
    const { model } = buildModel(state, 'nginx');
    assert.deepEqual(model.servers[0]!.locations.map((l) => `${l.source} ${l.pathType} ${l.path}`), [
      'shop/older Prefix /',
      'shop/nossl Prefix /x',
      'shop/newer Exact /api',
    ]);
    assert.equal(model.servers[0]!.sslRedirect, false);
    assert.deepEqual(model.defaultLocations.map((l) => `${l.source} ${l.path}`), ['shop/older /any', 'shop/fallback (default backend) /']);
  });

  it('skips hosts and paths that nginx could not take literally', () => {
    const state = base();
    state.ingresses = [
      ingress('odd', {
        rules: [route('shop.example', '/a;b', 'web', { name: 'http' }, 'ImplementationSpecific'), route('Bad_Host', '/', 'web', { name: 'http' })],
      }),
    ];
    const { model, warnings } = buildModel(state, 'nginx');
    assert.deepEqual(model.servers[0]!.locations, []);
    assert.equal(warnings.length, 2);
  });

  it('reads a TLS Secret only when the key matches the certificate', () => {
    assert.equal(readTlsSecret(tlsSecret).ok, true);
    assert.deepEqual(readTlsSecret({ data: {} }), { ok: false, reason: 'secret has no tls.crt or tls.key' });
  });
});

describe('ingress-nginx worker user', () => {
  const tables = {
    passwd: 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nproxy:x:1337:1337::/:/bin/false\n',
    groups: 'root:x:0:\nnogroup:x:65534:\nproxy:x:1337:\n',
  };
  const input = { uid: 0, gid: 0, user: 'nobody', group: 'nogroup', meshProxyUid: 1337, ...tables };

  it('drops root to the configured user, and keeps a non-root caller', () => {
    assert.deepEqual(resolveWorkerUser(input), { user: 'nobody', group: 'nogroup' });
    assert.equal(resolveWorkerUser({ ...input, uid: 1000, gid: 1000 }), undefined);
  });

  it('refuses the mesh proxy UID for the workers or the controller itself', () => {
    assert.throws(() => resolveWorkerUser({ ...input, user: 'proxy' }), /UID\/GID 1337\/65534.*mesh proxy's.*around the sidecar/);
    assert.throws(() => resolveWorkerUser({ ...input, group: 'proxy' }), /1337 is the mesh proxy's/);
    assert.throws(() => resolveWorkerUser({ ...input, uid: 1337, gid: 1337 }), /runs as UID\/GID 1337\/1337/);
    assert.throws(() => resolveWorkerUser({ ...input, user: 'ghost' }), /does not exist/);
  });
});

describe('ingress-nginx config', () => {
  it('has the documented defaults', () => {
    assert.deepEqual(parseConfig({}), {
      ingressClass: 'nginx',
      workDir: '/tmp/ingress-nginx',
      nginxBinary: '/usr/sbin/nginx',
      httpPort: 80,
      httpsPort: 443,
      statusPort: 10254,
      workerUser: 'nobody',
      workerGroup: 'nogroup',
      meshProxyUid: 1337,
      reloadDebounceMs: 200,
    });
  });

  it('reads the environment and rejects bad values', () => {
    const config = parseConfig({ INGRESS_CLASS: 'edge', HTTPS_PORT: '8443', HTTP_PORT: '8080', POD_IP: '10.244.0.5', LISTEN_ADDRESS: '127.0.0.1' });
    assert.equal(config.ingressClass, 'edge');
    assert.equal(config.httpsPort, 8443);
    assert.equal(config.podIp, '10.244.0.5');
    assert.equal(config.listenAddress, '127.0.0.1');
    assert.throws(() => parseConfig({ HTTPS_PORT: '70000' }), /HTTPS_PORT/);
    assert.throws(() => parseConfig({ NGINX_WORK_DIR: 'relative' }), /absolute/);
    assert.throws(() => parseConfig({ HTTP_PORT: '10254' }), /must differ/);
    assert.throws(() => parseConfig({ POD_IP: 'x;y' }), /POD_IP/);
  });
});
