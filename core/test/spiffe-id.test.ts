import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidSpiffeIdError, parseSpiffeId, parseWorkloadSpiffeId, serviceAccountFromUsername, workloadSpiffeId } from '../src/spiffe-id.js';

test('workload IDs follow spiffe://<td>/ns/<ns>/sa/<sa>', () => {
  assert.equal(workloadSpiffeId('cluster.local', 'shop', 'web'), 'spiffe://cluster.local/ns/shop/sa/web');
  assert.deepEqual(parseWorkloadSpiffeId('spiffe://cluster.local/ns/shop/sa/web'), { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' });
});

test('parseSpiffeId accepts standard IDs and rejects what the SPIFFE-ID standard forbids', () => {
  assert.deepEqual(parseSpiffeId('spiffe://example.org/a/b'), { trustDomain: 'example.org', path: '/a/b' });
  assert.deepEqual(parseSpiffeId('spiffe://example.org'), { trustDomain: 'example.org', path: '' });
  for (const bad of [
    '',
    'http://example.org/a',
    'spiffe://',
    'spiffe://Example.org/a',
    'spiffe://example.org:8080/a',
    'spiffe://user@example.org/a',
    'spiffe://example.org/',
    'spiffe://example.org/a//b',
    'spiffe://example.org/a/../b',
    'spiffe://example.org/a/./b',
    'spiffe://example.org/a?x=1',
    'spiffe://example.org/a#f',
    'spiffe://example.org/a%20b',
    `spiffe://example.org/${'a'.repeat(3000)}`,
  ]) {
    assert.throws(() => parseSpiffeId(bad), InvalidSpiffeIdError, bad);
  }
});

test('workloadSpiffeId refuses names Kubernetes would not allow', () => {
  assert.throws(() => workloadSpiffeId('cluster.local', 'Shop', 'web'), InvalidSpiffeIdError);
  assert.throws(() => workloadSpiffeId('cluster.local', 'shop', 'web/x'), InvalidSpiffeIdError);
  assert.throws(() => workloadSpiffeId('cluster.local', '', 'web'), InvalidSpiffeIdError);
  assert.throws(() => workloadSpiffeId('CLUSTER', 'shop', 'web'), InvalidSpiffeIdError);
  assert.equal(parseWorkloadSpiffeId('spiffe://cluster.local/ns/shop'), null);
  assert.equal(parseWorkloadSpiffeId('spiffe://cluster.local/ns/shop/sa/web/extra'), null);
  assert.equal(parseWorkloadSpiffeId('not an id'), null);
});

test('only ServiceAccount usernames map to workloads', () => {
  assert.deepEqual(serviceAccountFromUsername('system:serviceaccount:shop:web'), { namespace: 'shop', serviceAccount: 'web' });
  assert.equal(serviceAccountFromUsername('system:node:worker-1'), null);
  assert.equal(serviceAccountFromUsername('alice'), null);
  assert.equal(serviceAccountFromUsername('system:serviceaccount:shop'), null);
  assert.equal(serviceAccountFromUsername('system:serviceaccount:shop:web:extra'), null);
  assert.equal(serviceAccountFromUsername('system:serviceaccount:Shop:web'), null);
});
