import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { makeInjectContext, type InjectContext, type InjectContextInput } from '../../src/patch/index.js';

export const FIXTURE_DIR = new URL('../fixtures/pods/', import.meta.url);

export interface PodFixture {
  readonly file: string;
  readonly pod: Record<string, unknown>;
}

export function podFixtures(): PodFixture[] {
  return readdirSync(FIXTURE_DIR)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => ({ file, pod: parse(readFileSync(new URL(file, FIXTURE_DIR), 'utf8')) as Record<string, unknown> }));
}

/** Fixtures that are skipped by design; every other one is injected. */
export const SKIPPED_FIXTURES: Readonly<Record<string, string>> = {
  '13-host-network.yaml': 'hostNetwork pod',
  '14-opted-out.yaml': 'pod labelled reseal.dev/inject=disabled',
};

export const TEST_TRUST_ROOT_HASH = 'a'.repeat(64);

export function testContext(overrides: Partial<InjectContextInput> = {}): InjectContext {
  return makeInjectContext({
    namespace: 'shop',
    images: { proxy: 'registry.example/reseal/sidecar:0.1.0', init: 'registry.example/reseal/sidecar:0.1.0' },
    version: '0.1.0',
    trustRootHash: TEST_TRUST_ROOT_HASH,
    ...overrides,
  });
}

export type Json = Record<string, unknown>;

export function containersOf(pod: Json, field: 'containers' | 'initContainers'): Json[] {
  return ((pod.spec as Json)[field] as Json[] | undefined) ?? [];
}

export function envOf(container: Json): Record<string, unknown> {
  return Object.fromEntries(((container.env as Json[] | undefined) ?? []).map((e) => [e.name as string, e.value ?? e.valueFrom]));
}
