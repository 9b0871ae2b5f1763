// Where the admin server listens: every interface in a pod (kubelet probes the pod IP), a
// given address elsewhere (the demo keeps everything on loopback).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyConfigError, parseProxyConfig } from '../src/config.js';

const BASE = { POD_NAMESPACE: 'shop', POD_NAME: 'web-0', SERVICE_ACCOUNT: 'web', POD_IP: '10.0.0.1' };

test('admin host: all interfaces by default, an IP when given, a clear error otherwise', () => {
  assert.equal(parseProxyConfig(BASE).adminHost, '0.0.0.0');
  assert.equal(parseProxyConfig({ ...BASE, RESEAL_ADMIN_HOST: '127.0.0.1' }).adminHost, '127.0.0.1');
  assert.equal(parseProxyConfig({ ...BASE, RESEAL_ADMIN_HOST: '::1' }).adminHost, '::1');
  assert.throws(() => parseProxyConfig({ ...BASE, RESEAL_ADMIN_HOST: 'localhost' }), (error: Error) => error instanceof ProxyConfigError && /RESEAL_ADMIN_HOST/.test(error.message));
});
