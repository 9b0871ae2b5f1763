// Explicit mode: static listeners, no iptables. The demo's shape: app → outbound listener
// → mTLS → inbound listener → app, configured by one JSON document.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { ExplicitConfigError, identityAllowed, parseExplicitConfig, parseHostPort, startExplicitListeners } from '../src/explicit/index.js';
import type { ExplicitListeners } from '../src/explicit/index.js';
import type { InboundConnectionEvent } from '../src/inbound/index.js';
import { PROXY_METRIC_NAMES } from '../src/telemetry/proxy-metrics.js';
import { ManualTlsIdentity, TestCa, exchange, silentLogger, spiffeId, startEchoServer, testMetrics } from './support/tls-fixtures.js';

const CLIENT_ID = spiffeId('demo', 'client');
const SERVER_ID = spiffeId('demo', 'server');
const ca = TestCa.create();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('explicit config', () => {
  test('parses outbound and inbound listeners with defaults', () => {
    const config = parseExplicitConfig({
      listeners: [
        { direction: 'outbound', listen: '127.0.0.1:15001', destination: 'server.local:16006', expectedIdentity: SERVER_ID },
        { direction: 'inbound', listen: '[::1]:16006', appPort: 8080 },
        { direction: 'inbound', listen: '0.0.0.0:16007', appPort: 8081, appHost: '127.0.0.2', allowedIdentities: [CLIENT_ID, 'spiffe://cluster.local/ns/demo/*'], mtlsMode: 'PERMISSIVE' },
      ],
    });
    assert.deepEqual(config.listeners[0], {
      direction: 'outbound',
      listen: { host: '127.0.0.1', port: 15001 },
      destination: { host: 'server.local', port: 16006 },
      expectedIdentity: SERVER_ID,
    });
    assert.deepEqual(config.listeners[1], {
      direction: 'inbound',
      listen: { host: '::1', port: 16006 },
      appHost: '127.0.0.1',
      appPort: 8080,
      allowedIdentities: undefined,
      mtlsMode: 'STRICT',
    });
    assert.equal(config.listeners[2]?.direction === 'inbound' && config.listeners[2].mtlsMode, 'PERMISSIVE');
  });

  test('rejects malformed documents with the offending field named', () => {
    const bad: [unknown, RegExp][] = [
      [null, /config must be an object/],
      [{ listeners: [] }, /non-empty array/],
      [{ listeners: [{ direction: 'sideways', listen: '127.0.0.1:1' }] }, /listeners\[0\]\.direction/],
      [{ listeners: [{ direction: 'outbound', listen: '127.0.0.1', destination: 'a:1', expectedIdentity: SERVER_ID }] }, /listeners\[0\]\.listen.*host:port/],
      [{ listeners: [{ direction: 'outbound', listen: '127.0.0.1:1', destination: 'a:70000', expectedIdentity: SERVER_ID }] }, /destination.*70000/],
      [{ listeners: [{ direction: 'outbound', listen: '127.0.0.1:1', destination: 'a:1', expectedIdentity: 'https://x' }] }, /expectedIdentity/],
      [{ listeners: [{ direction: 'outbound', listen: '127.0.0.1:1', destination: 'a:1', expectedIdentity: SERVER_ID, extra: 1 }] }, /listeners\[0\]\.extra is not a field/],
      [{ listeners: [{ direction: 'inbound', listen: '127.0.0.1:1', appPort: 0 }] }, /appPort/],
      [{ listeners: [{ direction: 'inbound', listen: '127.0.0.1:1', appPort: 80, allowedIdentities: ['spiffe://a/*/b*'] }] }, /allowedIdentities\[0\]/],
      [{ listeners: [{ direction: 'inbound', listen: '127.0.0.1:1', appPort: 80, mtlsMode: 'strict' }] }, /mtlsMode/],
      [
        {
          listeners: [
            { direction: 'inbound', listen: '127.0.0.1:9', appPort: 80 },
            { direction: 'inbound', listen: '127.0.0.1:9', appPort: 81 },
          ],
        },
        /used by an earlier listener/,
      ],
    ];
    for (const [input, message] of bad) {
      assert.throws(() => parseExplicitConfig(input), (err: unknown) => err instanceof ExplicitConfigError && message.test(err.message), JSON.stringify(input));
    }
    assert.throws(() => parseHostPort('[not-v6]:80', 'x'), ExplicitConfigError);
    assert.throws(() => parseHostPort('bad host:80', 'x'), ExplicitConfigError);
  });

  test('allow-list patterns: exact or trailing *', () => {
    assert.ok(identityAllowed([CLIENT_ID], CLIENT_ID));
    assert.ok(identityAllowed(['spiffe://cluster.local/ns/demo/*'], CLIENT_ID));
    assert.ok(!identityAllowed(['spiffe://cluster.local/ns/demo/*'], spiffeId('other', 'client')));
    assert.ok(!identityAllowed([CLIENT_ID], `${CLIENT_ID}x`));
  });
});

describe('explicit listeners', () => {
  async function pair(allowedIdentities?: string[]) {
    const app = await startEchoServer();
    const serverTelemetry = testMetrics();
    const clientTelemetry = testMetrics();
    const events: InboundConnectionEvent[] = [];
    const server: ExplicitListeners = await startExplicitListeners(
      parseExplicitConfig({ listeners: [{ direction: 'inbound', listen: '127.0.0.1:0', appPort: app.port, ...(allowedIdentities ? { allowedIdentities } : {}) }] }),
      { identity: new ManualTlsIdentity(ca.issue(SERVER_ID).material), metrics: serverTelemetry.metrics, logger: silentLogger(), onInboundConnection: (e) => events.push(e) },
    );
    const inboundPort = server.inbound[0]!.address.port;
    const client = await startExplicitListeners(
      parseExplicitConfig({ listeners: [{ direction: 'outbound', listen: '127.0.0.1:0', destination: `127.0.0.1:${inboundPort}`, expectedIdentity: SERVER_ID }] }),
      { identity: new ManualTlsIdentity(ca.issue(CLIENT_ID).material), metrics: clientTelemetry.metrics, logger: silentLogger() },
    );
    cleanups.push(() => app.close(), () => server.close(), () => client.close());
    return { app, events, outboundPort: client.outbound[0]!.address.port, serverTelemetry, clientTelemetry };
  }

  test('an outbound and an inbound listener carry a request end to end over mutual TLS', async () => {
    const { events, outboundPort } = await pair();
    const { data } = await exchange(outboundPort, 'hello through the demo');
    assert.equal(data.toString(), 'hello through the demo');
    assert.equal(events[0]?.clientIdentity, CLIENT_ID);
    assert.equal(events[0]?.tls, 'mtls');
  });

  test("the inbound listener's allow list refuses other identities before the app", async () => {
    const { app, outboundPort, serverTelemetry } = await pair([spiffeId('demo', 'someone-else')]);
    const { data } = await exchange(outboundPort, 'hello');
    assert.equal(data.length, 0);
    assert.equal(app.accepted, 0);
    assert.equal(await serverTelemetry.sum(PROXY_METRIC_NAMES.policyDenials, { reason: 'not_allowed' }), 1);
  });

  test('a listener that cannot bind closes the ones already started', async () => {
    const { outboundPort } = await pair();
    await assert.rejects(
      startExplicitListeners(
        parseExplicitConfig({
          listeners: [
            { direction: 'inbound', listen: '127.0.0.1:0', appPort: 1 },
            { direction: 'inbound', listen: `127.0.0.1:${outboundPort}`, appPort: 1 },
          ],
        }),
        { identity: new ManualTlsIdentity(ca.issue(SERVER_ID).material), metrics: testMetrics().metrics, logger: silentLogger() },
      ),
      /EADDRINUSE/,
    );
  });
});
