import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfig, parseDuration } from '../src/config.js';

test('defaults: Kubernetes mode, 1 h certificates, port 15012', () => {
  const config = parseConfig({});
  assert.equal(config.trustDomain, 'cluster.local');
  assert.equal(config.defaultTtlSeconds, 3600);
  assert.equal(config.identityPort, 15012);
  assert.deepEqual(config.mode, { kind: 'kubernetes', namespace: 'reseal-system', caSecretName: 'reseal-ca' });
  assert.deepEqual(config.servingDnsNames, ['reseal-control-plane.reseal-system.svc', 'reseal-control-plane.reseal-system.svc.cluster.local']);
});

test('TTL accepts 60 s to 24 h and refuses anything else with the variable named', () => {
  assert.equal(parseConfig({ RESEAL_CERT_TTL: '60s' }).defaultTtlSeconds, 60);
  assert.equal(parseConfig({ RESEAL_CERT_TTL: '24h' }).defaultTtlSeconds, 86400);
  assert.throws(() => parseConfig({ RESEAL_CERT_TTL: '59' }), ConfigError);
  assert.throws(() => parseConfig({ RESEAL_CERT_TTL: '25h' }), ConfigError);
  assert.throws(() => parseConfig({ RESEAL_CERT_TTL: 'soon' }), /RESEAL_CERT_TTL/);
  assert.equal(parseDuration('15m'), 900);
  assert.equal(parseDuration('-5'), null);
});

test('standalone mode when a token file is given; bad values are refused', () => {
  assert.deepEqual(parseConfig({ RESEAL_STANDALONE_TOKENS: '/tmp/t.json' }).mode, { kind: 'standalone', tokensFile: '/tmp/t.json', caDir: undefined });
  assert.throws(() => parseConfig({ RESEAL_TRUST_DOMAIN: 'Bad Domain' }), /RESEAL_TRUST_DOMAIN/);
  assert.throws(() => parseConfig({ RESEAL_IDENTITY_PORT: '70000' }), /RESEAL_IDENTITY_PORT/);
});
