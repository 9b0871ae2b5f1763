// What the injector writes must be what the sidecar reads: every injected fixture's
// reseal-init flags, proxy env and RESEAL_APP_PROBES go through the sidecar's own parsers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAppProbes } from '../../sidecar/src/admin/app-probes.js';
import { parseInitFlags } from '../../sidecar/src/capture/parse-init-flags.js';
import { parseProxyConfig } from '../../sidecar/src/config.js';
import { applyJsonPatch, injectPod, INIT_CONTAINER_NAME, PROXY_CONTAINER_NAME } from '../src/patch/index.js';
import { containersOf, podFixtures, SKIPPED_FIXTURES, testContext, type Json } from './support/fixtures.js';

// What kubelet would put in the downward-API variables.
const FIELD_VALUES: Record<string, string> = {
  'metadata.namespace': 'shop',
  'metadata.name': 'web-0',
  'status.podIP': '10.1.2.3',
  'spec.serviceAccountName': 'web',
};

function resolvedEnv(container: Json): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of (container.env as Json[] | undefined) ?? []) {
    const fieldPath = ((entry.valueFrom as Json | undefined)?.fieldRef as Json | undefined)?.fieldPath as string | undefined;
    const value = fieldPath === undefined ? entry.value : FIELD_VALUES[fieldPath];
    assert.equal(typeof value, 'string', `env ${String(entry.name)} has a value`);
    env[entry.name as string] = value as string;
  }
  return env;
}

for (const { file, pod } of podFixtures()) {
  if (SKIPPED_FIXTURES[file]) continue;
  for (const nativeSidecars of [true, false]) {
    test(`${file} (${nativeSidecars ? 'native sidecar' : 'fallback'}) is understood by reseal-init and reseal-proxy`, () => {
      const injected = applyJsonPatch(pod, injectPod(pod, testContext({ nativeSidecars })).patch);
      const all = [...containersOf(injected, 'initContainers'), ...containersOf(injected, 'containers')];
      const init = all.find((c) => c.name === INIT_CONTAINER_NAME) as Json;
      const proxy = all.find((c) => c.name === PROXY_CONTAINER_NAME) as Json;
      assert.deepEqual(init.command, ['reseal-init']);
      assert.deepEqual(proxy.command, ['reseal-proxy']);

      const flags = parseInitFlags(init.args as string[]);
      assert.equal(flags.action, 'apply');
      assert.equal(flags.options.proxyUid, 1337);
      assert.equal(flags.options.adminPort, 15020);

      const config = parseProxyConfig(resolvedEnv(proxy));
      assert.equal(config.spiffeId, 'spiffe://cluster.local/ns/shop/sa/web');
      assert.equal(config.controlPlane.address, 'reseal-control-plane.reseal-system.svc:15012');
      assert.equal(config.tokenFile, '/var/run/secrets/reseal/token');
      assert.equal(config.trustBundleFile, '/var/run/reseal/trust-bundle/ca-bundle.pem');
      assert.deepEqual(config.mode, { kind: 'transparent', injectMode: flags.options.mode });
      assert.equal(config.ports.admin, 15020);

      const probes = parseAppProbes(config.appProbes);
      for (const [container, kinds] of Object.entries(probes)) {
        for (const kind of Object.keys(kinds)) {
          const target = all.find((c) => c.name === container) as Json;
          const field = `${kind}Probe`;
          assert.equal(((target[field] as Json).httpGet as Json).path, `/app-health/${container}/${kind}`);
        }
      }
    });
  }
}
