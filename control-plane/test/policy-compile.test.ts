import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accessPolicyRecord, type AccessPolicySpec } from '../src/policy/access-policy.js';
import { compileInboundPolicy, type PolicyTarget } from '../src/policy/compile-inbound-policy.js';
import { identityMatches, isValidIdentityPattern } from '../src/policy/identity-pattern.js';
import { parseLabelSelector } from '../src/policy/label-selector.js';

const GATEWAY = 'spiffe://cluster.local/ns/edge/sa/gateway';
const WORKER = 'spiffe://cluster.local/ns/shop/sa/worker';
const web: PolicyTarget = { namespace: 'shop', name: 'web-0', labels: { app: 'web', tier: 'front' } };

function policy(name: string, spec: AccessPolicySpec, namespace = 'shop') {
  return accessPolicyRecord(namespace, name, spec);
}

test('no policy selects the pod: unrestricted, STRICT by default', () => {
  const other = policy('db-only', { podSelector: { matchLabels: { app: 'db' } }, allowedIdentities: [GATEWAY] });
  const elsewhere = policy('web-in-other-ns', { podSelector: {}, allowedIdentities: [GATEWAY] }, 'edge');
  const { policy: compiled, warnings } = compileInboundPolicy({ pod: web, policies: [other, elsewhere] });
  assert.deepEqual(compiled, { mtlsMode: 'STRICT', restricted: false, rules: [] });
  assert.deepEqual(warnings, []);
});

test('selecting policies are unioned per port; no ports means every port (port 0)', () => {
  const a = policy('a', { podSelector: { matchLabels: { app: 'web' } }, ports: [8080, 9090], allowedIdentities: [GATEWAY] });
  const b = policy('b', { podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] }, ports: [8080], allowedIdentities: [WORKER, GATEWAY] });
  const c = policy('c', { podSelector: {}, allowedIdentities: ['spiffe://cluster.local/ns/ops/*'] });
  const { policy: compiled } = compileInboundPolicy({ pod: web, policies: [a, b, c] });
  assert.deepEqual(compiled, {
    mtlsMode: 'STRICT',
    restricted: true,
    rules: [
      { port: 0, allowedIdentities: ['spiffe://cluster.local/ns/ops/*'] },
      { port: 8080, allowedIdentities: [GATEWAY, WORKER] },
      { port: 9090, allowedIdentities: [GATEWAY] },
    ],
  });
});

test('mTLS mode: pod annotation over namespace annotation over STRICT; invalid values mean STRICT with a warning', () => {
  const mode = (pod: string | undefined, ns: string | undefined) => compileInboundPolicy({ pod: { ...web, mtlsModeAnnotation: pod }, namespaceMtlsModeAnnotation: ns, policies: [] });
  assert.equal(mode(undefined, undefined).policy.mtlsMode, 'STRICT');
  assert.equal(mode(undefined, 'PERMISSIVE').policy.mtlsMode, 'PERMISSIVE');
  assert.equal(mode(undefined, ' permissive ').policy.mtlsMode, 'PERMISSIVE');
  assert.equal(mode('STRICT', 'PERMISSIVE').policy.mtlsMode, 'STRICT');
  assert.equal(mode('PERMISSIVE', 'STRICT').policy.mtlsMode, 'PERMISSIVE');
  const badNamespace = mode(undefined, 'OFF');
  assert.equal(badNamespace.policy.mtlsMode, 'STRICT');
  assert.match(badNamespace.warnings.join('\n'), /namespace shop: annotation reseal.dev\/mtls-mode="OFF"/);
  // An invalid workload override does not fall back to a PERMISSIVE namespace.
  const badPod = mode('disabled', 'PERMISSIVE');
  assert.equal(badPod.policy.mtlsMode, 'STRICT');
  assert.match(badPod.warnings.join('\n'), /pod shop\/web-0/);
});

test('broken policies close access instead of opening it', () => {
  const badSelector = policy('bad-selector', { podSelector: { matchExpressions: [{ key: 'app', operator: 'Near', values: ['web'] }] }, allowedIdentities: [GATEWAY] });
  let compiled = compileInboundPolicy({ pod: web, policies: [badSelector] });
  assert.deepEqual(compiled.policy, { mtlsMode: 'STRICT', restricted: true, rules: [] });
  assert.match(compiled.warnings.join('\n'), /bad-selector.*unknown operator/);

  // A list of only invalid ports must not turn into "all ports".
  const badPorts = policy('bad-ports', { podSelector: {}, ports: [0, 70000], allowedIdentities: [GATEWAY] });
  compiled = compileInboundPolicy({ pod: web, policies: [badPorts] });
  assert.deepEqual(compiled.policy.rules, []);
  assert.equal(compiled.policy.restricted, true);

  const badIds = policy('bad-ids', { podSelector: {}, allowedIdentities: ['*', 'spiffe://cluster.local*', GATEWAY] });
  compiled = compileInboundPolicy({ pod: web, policies: [badIds] });
  assert.deepEqual(compiled.policy.rules, [{ port: 0, allowedIdentities: [GATEWAY] }]);
  assert.equal(compiled.warnings.length, 2);

  const noSpec = accessPolicyRecord('shop', 'empty', undefined);
  assert.deepEqual(compileInboundPolicy({ pod: web, policies: [noSpec] }).policy, { mtlsMode: 'STRICT', restricted: true, rules: [] });
});

test('identityMatches: exact, or prefix with a trailing *', () => {
  assert.ok(identityMatches(GATEWAY, GATEWAY));
  assert.ok(!identityMatches(GATEWAY, `${GATEWAY}2`));
  assert.ok(identityMatches('spiffe://cluster.local/ns/edge/*', GATEWAY));
  assert.ok(!identityMatches('spiffe://cluster.local/ns/edge/*', 'spiffe://cluster.local/ns/edge2/sa/x'));
  assert.ok(identityMatches('spiffe://cluster.local/ns/edge/sa/gate*', GATEWAY));
  assert.ok(!identityMatches('*', GATEWAY), 'an empty prefix admits nobody');
});

test('allowed-identity patterns: SPIFFE IDs and prefixes only', () => {
  for (const ok of [
    GATEWAY,
    'spiffe://cluster.local/ns/edge/*',
    'spiffe://cluster.local/*',
    'spiffe://cluster.local/ns/edge/sa/gate*',
    'spiffe://example.org',
    'spiffe://td/a_b/C-d.e',
  ]) {
    assert.ok(isValidIdentityPattern(ok), ok);
  }
  for (const bad of [
    '*',
    'spiffe://',
    'spiffe://*',
    'spiffe://cluster.local*',
    'spiffe://cluster.local/',
    'spiffe://Cluster.local/ns/a',
    'http://cluster.local/ns/a',
    'spiffe://cluster.local/ns/a b',
    'spiffe://cluster.local/ns//sa/b',
    'spiffe://cluster.local/ns/*/sa/b',
    'spiffe://cluster.local/ns/a/**',
    'spiffe://cluster.local/ns/../sa/b',
    'spiffe://cluster.local/ns/.',
    ' spiffe://cluster.local/ns/a',
    `spiffe://cluster.local/${'a'.repeat(2048)}`,
    42,
  ]) {
    assert.ok(!isValidIdentityPattern(bad), String(bad));
  }
});

test('label selectors follow Kubernetes semantics', () => {
  const match = (selector: unknown, labels: Record<string, string>) => {
    const parsed = parseLabelSelector(selector);
    assert.ok(parsed.ok);
    return parsed.matches(labels);
  };
  assert.ok(match({}, {}));
  assert.ok(match(undefined, { a: '1' }));
  assert.ok(match({ matchLabels: { a: '1' } }, { a: '1', b: '2' }));
  assert.ok(!match({ matchLabels: { a: '1' } }, { a: '2' }));
  assert.ok(match({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, {}));
  assert.ok(!match({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, { a: '1' }));
  assert.ok(match({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' }));
  assert.ok(!match({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: '' }));
  assert.ok(!match({ matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'In', values: ['x'] }] }, { a: '1', b: 'y' }));
  assert.ok(!match({ matchExpressions: [{ key: 'toString', operator: 'Exists' }] }, {}), 'no prototype keys');
  for (const broken of [[], 'app=web', { matchLabels: { a: 1 } }, { matchExpressions: [{ key: 'a', operator: 'In' }] }, { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }]) {
    assert.equal(parseLabelSelector(broken).ok, false, JSON.stringify(broken));
  }
});
