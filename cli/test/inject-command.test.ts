// `reseal inject` as a user runs it: the real bin in a child process, from a file and from
// stdin, YAML and JSON; and the same patch as the webhook's injectPod.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { applyJsonPatch, injectPod, makeInjectContext } from '@reseal/injector/patch';
import { parseAllDocuments } from 'yaml';

const BIN = fileURLToPath(new URL('../bin/reseal.js', import.meta.url));
const WORKLOADS = fileURLToPath(new URL('./fixtures/workloads.yaml', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'reseal-cli-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Json = Record<string, unknown>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function reseal(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

function yamlDocuments(text: string): Json[] {
  return Array.from(parseAllDocuments(text, { version: '1.1' })).map((document) => document.toJS() as Json);
}

const names = (list: unknown): string[] => ((list as Json[] | undefined) ?? []).map((c) => c.name as string);
const at = (object: unknown, ...path: (string | number)[]): unknown => path.reduce<unknown>((node, key) => (node as Record<string | number, unknown> | undefined)?.[key], object);

function assertInjectedTemplate(template: unknown, containers: string[]): void {
  assert.deepEqual(names(at(template, 'spec', 'initContainers')), ['reseal-init', 'reseal-proxy']);
  assert.deepEqual(names(at(template, 'spec', 'containers')), containers);
  assert.equal(at(template, 'metadata', 'labels', 'reseal.dev/meshed'), 'true');
  assert.deepEqual(names(at(template, 'spec', 'volumes')), ['reseal-token', 'reseal-trust-bundle', 'reseal-identity', 'reseal-tmp']);
}

describe('YAML', () => {
  test('a multi-document file: Deployment, Service, CronJob and a List', async () => {
    const run = await reseal(['inject', '-f', WORKLOADS]);
    assert.equal(run.code, 0, run.stderr);
    const input = yamlDocuments(readFileSync(WORKLOADS, 'utf8'));
    const output = yamlDocuments(run.stdout);
    assert.deepEqual(output.map((d) => d.kind), ['Deployment', 'Service', 'CronJob', 'List']);

    const [deployment, service, cronJob, list] = output as [Json, Json, Json, Json];
    assertInjectedTemplate(at(deployment, 'spec', 'template'), ['web']);
    assert.equal(at(deployment, 'spec', 'template', 'metadata', 'labels', 'enabled'), 'yes', 'a "yes" string stays a string');
    assert.deepEqual(at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'readinessProbe', 'httpGet'), { path: '/app-health/web/readiness', port: 15020, scheme: 'HTTP' });
    // Everything outside the template is untouched.
    assert.deepEqual({ ...deployment, spec: { ...(deployment.spec as Json), template: undefined } }, { ...input[0], spec: { ...(input[0]?.spec as Json), template: undefined } });

    assert.deepEqual(service, input[1]);
    assert.match(run.stdout, /targetPort: http # the container port name/, 'an untouched document keeps its comments');
    assert.match(run.stdout, /^# The storefront/, 'a rewritten document keeps its heading comment');

    assertInjectedTemplate(at(cronJob, 'spec', 'jobTemplate', 'spec', 'template'), ['report']);
    assert.equal(at(cronJob, 'spec', 'schedule'), '0 3 * * *');

    assertInjectedTemplate(at(list, 'items', 0, 'spec', 'template'), ['postgres']);
    assert.deepEqual(at(list, 'items', 1), at(input[3], 'items', 1));
    assert.equal(at(list, 'items', 1, 'data', 'mode'), 'on');
    assert.doesNotMatch(run.stdout, /[&*]a\d/, 'no YAML anchors or aliases');

    assert.deepEqual(run.stderr.trim().split('\n'), ['Deployment shop/web: injected', 'CronJob shop/nightly-report: injected', 'StatefulSet default/db: injected']);
  });

  test('stdin gives the same output as the file', async () => {
    const fromFile = await reseal(['inject', '-f', WORKLOADS]);
    const fromStdin = await reseal(['inject', '-f', '-'], readFileSync(WORKLOADS, 'utf8'));
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, fromFile.stdout);
  });

  test('running it on its own output changes nothing', async () => {
    const once = await reseal(['inject', '-f', WORKLOADS]);
    const twice = await reseal(['inject', '-f', '-'], once.stdout);
    assert.equal(twice.code, 0, twice.stderr);
    assert.deepEqual(yamlDocuments(twice.stdout), yamlDocuments(once.stdout));
    assert.match(twice.stderr, /Deployment shop\/web: skipped \(already injected\)/);
  });

  test('the Deployment template gets exactly what injectPod gives a pod', async () => {
    const run = await reseal(['inject', '-f', WORKLOADS, '--proxy-image', 'registry.example/reseal/sidecar:9.9.9']);
    const template = at(yamlDocuments(readFileSync(WORKLOADS, 'utf8'))[0], 'spec', 'template');
    const expected = applyJsonPatch(template, injectPod(template, makeInjectContext({ namespace: 'shop', images: { proxy: 'registry.example/reseal/sidecar:9.9.9', init: 'registry.example/reseal/sidecar:9.9.9' }, version: '0.1.0' })).patch);
    assert.deepEqual(at(yamlDocuments(run.stdout)[0], 'spec', 'template'), expected);
  });
});

describe('JSON and flags', () => {
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop' }, spec: { containers: [{ name: 'a', image: 'a' }] } },
      { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'd' }, spec: { template: { spec: { containers: [{ name: 'b', image: 'b' }] } } } },
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'r' }, spec: { template: { metadata: { labels: { x: 'y' } }, spec: { containers: [{ name: 'c', image: 'c' }] } } } },
      { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'j', image: 'j' }] } } } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'mesh', namespace: 'reseal-system' }, spec: { containers: [{ name: 'cp', image: 'cp' }] } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'host' }, spec: { hostNetwork: true, containers: [{ name: 'h', image: 'h' }] } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: {} },
    ],
  };

  test('a JSON List in, JSON out, each kind at its template path; skips reported', async () => {
    const bundle = join(tmp, 'ca-bundle.pem');
    writeFileSync(bundle, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const run = await reseal(['inject', '-f', '-', '--trust-bundle', bundle, '--native-sidecars', 'false'], JSON.stringify(list));
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.startsWith('{\n  "apiVersion": "v1"'), 'pretty JSON');
    const out = JSON.parse(run.stdout) as { items: Json[] };
    const pod = out.items[0] as Json;
    assert.deepEqual(names(at(pod, 'spec', 'containers')), ['reseal-proxy', 'a'], 'fallback: the proxy is containers[0]');
    assert.equal(at(pod, 'metadata', 'annotations', 'reseal.dev/trust-root-hash'), createHash('sha256').update(readFileSync(bundle)).digest('hex'));
    for (const i of [1, 2, 3]) assert.equal(names(at(out.items[i], 'spec', 'template', 'spec', 'containers'))[0], 'reseal-proxy');
    assert.equal(at(out.items[2], 'spec', 'template', 'metadata', 'labels', 'x'), 'y');
    assert.deepEqual(out.items.slice(4), list.items.slice(4), 'mesh namespace, hostNetwork and non-pod objects pass through');
    assert.match(run.stderr, /Pod reseal-system\/mesh: skipped \(namespace reseal-system is the mesh's own\)/);
    assert.match(run.stderr, /Pod default\/host: skipped \(hostNetwork pod\)/);
  });

  test('an invalid annotation fails the command, naming the object and the annotation, and prints nothing', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bad', annotations: { 'reseal.dev/skip-outbound-cidrs': '10.0.0.1' } }, spec: { containers: [{ name: 'a' }] } };
    const run = await reseal(['inject', '-f', '-'], JSON.stringify(pod));
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /Pod default\/bad: annotation reseal.dev\/skip-outbound-cidrs: "10.0.0.1"/);
  });

  test('usage errors', async () => {
    assert.equal((await reseal(['inject'])).code, 2);
    assert.equal((await reseal(['inject', '-f', join(tmp, 'missing.yaml')])).code, 2);
    assert.equal((await reseal(['inject', '-f', '-', '--native-sidecars', 'maybe'])).code, 2);
    assert.equal((await reseal(['inject', '-f', '-', '--trust-root-hash', 'xyz'])).code, 2);
    assert.equal((await reseal(['inject', '--bogus'])).code, 2);
    assert.equal((await reseal(['inject', '-f', '-'], 'a: [unclosed')).code, 2);
    assert.equal((await reseal(['nope'])).code, 2);
    const help = await reseal(['inject', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: reseal inject -f <file\|->/);
  });
});
