// render-config.ts: the nginx.conf of a model, without nginx (ingress-nginx-nginx.test.ts runs it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NginxModel } from '../apps/ingress-nginx/model.js';
import { renderConfig, type RenderOptions } from '../apps/ingress-nginx/render-config.js';

const options: RenderOptions = { workDir: '/tmp/ing', httpPort: 80, httpsPort: 443 };
const CERT = 'a'.repeat(32);

const shop: NginxModel = {
  servers: [
    {
      host: 'shop.example',
      certificate: CERT,
      sslRedirect: true,
      locations: [
        { path: '/', pathType: 'Prefix', backend: { kind: 'upstream', upstream: 'shop-web-8080' }, source: 'shop/web' },
        { path: '/api/', pathType: 'Prefix', backend: { kind: 'upstream', upstream: 'shop-api-80' }, source: 'shop/web' },
        { path: '/healthz', pathType: 'Exact', backend: { kind: 'status', status: 503 }, source: 'shop/web' },
        { path: '/static', pathType: 'ImplementationSpecific', backend: { kind: 'upstream', upstream: 'shop-web-8080' }, source: 'shop/web' },
      ],
    },
  ],
  defaultLocations: [],
  upstreams: [
    { name: 'shop-web-8080', addresses: ['10.0.0.7:8080', '10.0.0.8:8080'] },
    { name: 'shop-api-80', addresses: ['[fd00::5]:9000'] },
  ],
};

/** The lines of the `server` block that has `server_name <name>`. */
function serverBlock(config: string, name: string): string {
  const start = config.indexOf(`server_name ${name};`);
  assert.ok(start > 0, `no server ${name} in:\n${config}`);
  const from = config.lastIndexOf('  server {', start);
  const to = config.indexOf('\n  }\n', start);
  return config.slice(from, to + 4);
}

/** The body of `location <match> {` inside a block. */
function location(block: string, match: string): string {
  const start = block.indexOf(`location ${match} {`);
  assert.ok(start >= 0, `no location ${match} in:\n${block}`);
  return block.slice(start, block.indexOf('}', start) + 1);
}

describe('ingress-nginx renderConfig', () => {
  it('writes the process-level settings and keeps every writable path inside the work dir', () => {
    const config = renderConfig(shop, options);
    for (const line of ['worker_processes 1;', 'daemon off;', 'pid "/tmp/ing/nginx.pid";', 'error_log stderr notice;']) {
      assert.ok(config.includes(line), line);
    }
    for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
      assert.match(config, new RegExp(`${temp}_temp_path "/tmp/ing/${temp}_temp";`));
    }
    assert.doesNotMatch(config, /^user /m, 'no user directive unless asked for');
    assert.match(renderConfig(shop, { ...options, workerUser: { user: 'nobody', group: 'nogroup' } }), /^user nobody nogroup;$/m);
  });

  it('logs access as JSON with the request id, upstream address, status and time', () => {
    const config = renderConfig(shop, options);
    assert.match(config, /log_format upstreaminfo escape=json/);
    for (const field of ['"request_id":"$req_id"', '"upstream_addr":"$upstream_addr"', '"status":$status', '"request_time":$request_time']) {
      assert.ok(config.includes(field), field);
    }
    assert.match(config, /access_log "\/tmp\/ing\/access.log" upstreaminfo;/);
    assert.match(config, /map \$http_x_request_id \$req_id \{\n\s+default \$http_x_request_id;\n\s+"" \$request_id;/);
  });

  it('proxies with ingress-nginx defaults: HTTP/1.1 keep-alive, forwarded headers, retries', () => {
    const config = renderConfig(shop, options);
    for (const line of [
      'proxy_http_version 1.1;',
      'proxy_set_header Connection "";',
      'proxy_set_header Host $host;',
      'proxy_set_header X-Request-ID $req_id;',
      'proxy_set_header X-Real-IP $remote_addr;',
      'proxy_set_header X-Forwarded-For $remote_addr;',
      'proxy_set_header X-Forwarded-Proto $scheme;',
      'proxy_set_header X-Forwarded-Host $host;',
      'proxy_next_upstream error timeout;',
      'proxy_next_upstream_tries 3;',
      'proxy_connect_timeout 5s;',
      'ssl_protocols TLSv1.2 TLSv1.3;',
    ]) {
      assert.ok(config.includes(`  ${line}\n`), line);
    }
  });

  it('renders one upstream per service port with the pod addresses and keepalive 32', () => {
    const config = renderConfig(shop, options);
    assert.match(
      config,
      /upstream shop-web-8080 \{\n\s+server 10\.0\.0\.7:8080 max_fails=0;\n\s+server 10\.0\.0\.8:8080 max_fails=0;\n\s+keepalive 32;/,
    );
    assert.match(config, /upstream shop-api-80 \{\n\s+server \[fd00::5\]:9000 max_fails=0;/);
  });

  it('serves a host on 80 and 443 with its certificate and redirects its plain HTTP to HTTPS', () => {
    const block = serverBlock(renderConfig(shop, options), 'shop.example');
    assert.match(block, /listen 80;\n\s+listen 443 ssl http2;/);
    assert.ok(block.includes(`ssl_certificate "/tmp/ing/certs/${CERT}.crt";`));
    assert.ok(block.includes(`ssl_certificate_key "/tmp/ing/certs/${CERT}.key";`));
    assert.match(block, /if \(\$scheme = http\) \{\n\s+return 308 https:\/\/\$host\$request_uri;/);
    const highPorts = serverBlock(renderConfig(shop, { ...options, httpPort: 8080, httpsPort: 8443, listenAddress: '127.0.0.1' }), 'shop.example');
    assert.match(highPorts, /listen 127\.0\.0\.1:8080;\n\s+listen 127\.0\.0\.1:8443 ssl http2;/);
    assert.match(highPorts, /return 308 https:\/\/\$host:8443\$request_uri;/);
  });

  it('maps path types to nginx locations', () => {
    const block = serverBlock(renderConfig(shop, options), 'shop.example');
    assert.match(location(block, '"/"'), /proxy_pass http:\/\/shop-web-8080;/);
    // Prefix /api/ matches /api and /api/..., not /apix
    assert.match(location(block, '= "/api"'), /proxy_pass http:\/\/shop-api-80;/);
    assert.match(location(block, '"/api/"'), /proxy_pass http:\/\/shop-api-80;/);
    assert.doesNotMatch(block, /location "\/api" /);
    assert.match(location(block, '= "/healthz"'), /return 503;/);
    assert.match(location(block, '"/static"'), /proxy_pass http:\/\/shop-web-8080;/);
  });

  it('lets an Exact path win over a Prefix path, and the first Ingress win a duplicate', () => {
    const model: NginxModel = {
      servers: [
        {
          host: 'a.example',
          sslRedirect: true,
          locations: [
            { path: '/x', pathType: 'Prefix', backend: { kind: 'upstream', upstream: 'u1' }, source: 'ns/old' },
            { path: '/x', pathType: 'Exact', backend: { kind: 'upstream', upstream: 'u2' }, source: 'ns/new' },
            { path: '/x/', pathType: 'Prefix', backend: { kind: 'upstream', upstream: 'u2' }, source: 'ns/new' },
          ],
        },
      ],
      defaultLocations: [],
      upstreams: [
        { name: 'u1', addresses: ['10.0.0.1:80'] },
        { name: 'u2', addresses: ['10.0.0.2:80'] },
      ],
    };
    const block = serverBlock(renderConfig(model, options), 'a.example');
    assert.match(location(block, '= "/x"'), /u2/);
    assert.match(location(block, '"/x/"'), /u1/);
    assert.equal(block.split('location "/x/" {').length, 2, 'one location per match');
  });

  it('answers 404 for unknown hosts from a default server with the default certificate', () => {
    const config = renderConfig(shop, options);
    const block = serverBlock(config, '_');
    assert.match(block, /listen 80 default_server;\n\s+listen 443 ssl http2 default_server;/);
    assert.ok(block.includes('ssl_certificate "/tmp/ing/default.crt";'));
    assert.ok(block.includes('ssl_certificate_key "/tmp/ing/default.key";'));
    assert.match(location(block, '"/"'), /return 404;/);
    assert.doesNotMatch(block, /\$scheme = http/);
    assert.equal(config.match(/default_server/g)?.length, 2, 'only one default server');
  });

  it('gives a host without a certificate the default one and no redirect, and a host without "/" a 404 there', () => {
    const model: NginxModel = {
      servers: [{ host: 'plain.example', sslRedirect: true, locations: [{ path: '/only', pathType: 'Exact', backend: { kind: 'status', status: 503 }, source: 'ns/x' }] }],
      defaultLocations: [{ path: '/', pathType: 'Prefix', backend: { kind: 'upstream', upstream: 'ns-fallback-80' }, source: 'ns/x' }],
      upstreams: [{ name: 'ns-fallback-80', addresses: ['10.1.0.1:80'] }],
    };
    const config = renderConfig(model, options);
    const block = serverBlock(config, 'plain.example');
    assert.ok(block.includes('ssl_certificate "/tmp/ing/default.crt";'));
    assert.doesNotMatch(block, /return 308/);
    assert.match(location(block, '"/"'), /return 404;/);
    assert.match(location(block, '= "/only"'), /return 503;/);
    assert.match(location(serverBlock(config, '_'), '"/"'), /proxy_pass http:\/\/ns-fallback-80;/);
  });

  it('routes a service without ready endpoints to a 503, never to an empty upstream', () => {
    const model: NginxModel = {
      servers: [{ host: 'down.example', sslRedirect: false, locations: [{ path: '/', pathType: 'Prefix', backend: { kind: 'status', status: 503 }, source: 'ns/x' }] }],
      defaultLocations: [],
      upstreams: [],
    };
    const config = renderConfig(model, options);
    assert.match(location(serverBlock(config, 'down.example'), '"/"'), /return 503;/);
    assert.doesNotMatch(config, /^\s*upstream /m);
    assert.throws(() => renderConfig({ ...model, upstreams: [{ name: 'empty', addresses: [] }] }, options), /no addresses/);
  });

  it('is deterministic: the same model in another order renders the same text', () => {
    const reordered: NginxModel = { ...shop, upstreams: [...shop.upstreams].reverse(), servers: [...shop.servers].reverse() };
    assert.equal(renderConfig(reordered, options), renderConfig(shop, options));
  });

  it('refuses what would inject nginx syntax', () => {
    const bad = (patch: Partial<NginxModel['servers'][number]>): NginxModel => ({ ...shop, servers: [{ ...shop.servers[0]!, ...patch }] });
    assert.throws(() => renderConfig(bad({ host: 'x.example; include /etc/passwd' }), options), /invalid host/);
    assert.throws(() => renderConfig(bad({ host: '~^regex$' }), options), /invalid host/);
    assert.throws(
      () => renderConfig(bad({ locations: [{ path: '/a" { return 200; }', pathType: 'Prefix', backend: { kind: 'status', status: 404 }, source: 'x' }] }), options),
      /invalid path/,
    );
    assert.throws(() => renderConfig(bad({ certificate: '../../etc/x' }), options), /invalid certificate id/);
    assert.throws(() => renderConfig({ ...shop, upstreams: [{ name: 'u', addresses: ['1.2.3.4:80; evil'] }] }, options), /invalid upstream address/);
    assert.throws(
      () => renderConfig(bad({ locations: [{ path: '/', pathType: 'Prefix', backend: { kind: 'upstream', upstream: 'nope' }, source: 'x' }] }), options),
      /unknown upstream/,
    );
  });
});
