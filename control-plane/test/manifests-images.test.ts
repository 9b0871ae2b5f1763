// The Dockerfiles cannot be built here (no registry or daemon), so they are checked by
// reading: multi-stage on a slim Node 24 base, an install of only the component's workspace,
// sources that exist and are not excluded by .dockerignore, a non-root USER, no build tools in
// the final stage, and entry points that exist. The manifests must name these images.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const joined = text.replace(/\\\n/g, ' ');
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: rest.replace(/\s+/g, ' ') };
    if (instruction.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = instruction.args.split('=');
      args.set(name!, value);
    } else if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.split(' ');
      stages.push({ from: image.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? ''), name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      assert.ok(stages.length > 0, `${instruction.keyword} before FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/** The .dockerignore patterns we use: `**\/name`, `name`, `**\/*.ext`. */
function ignored(path: string, patterns: string[]): boolean {
  const parts = path.split('/');
  return patterns.some((pattern) => {
    if (pattern.startsWith('**/')) {
      const name = pattern.slice(3);
      return parts.some((part) => (name.startsWith('*.') ? part.endsWith(name.slice(1)) : part === name));
    }
    return path === pattern || path.startsWith(`${pattern}/`);
  });
}

const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const workspaces = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;

const IMAGES = [
  { dockerfile: 'control-plane/Dockerfile', workspace: 'control-plane', user: '65532:65532', bins: ['control-plane/bin/reseal-control-plane.js'] },
  { dockerfile: 'injector/Dockerfile', workspace: 'injector', user: '65532:65532', bins: ['injector/bin/reseal-injector.js'] },
  // reseal-proxy runs the bundle (dist/reseal-proxy.mjs, checked below); reseal-init its bin.
  { dockerfile: 'sidecar/Dockerfile', workspace: 'sidecar', user: '1337:1337', bins: ['sidecar/bin/reseal-init.js'] },
] as const;

for (const image of IMAGES) {
  test(`${image.dockerfile}: multi-stage, slim Node 24, only its workspace, non-root, entry points exist`, () => {
    const { stages } = parseDockerfile(readFileSync(join(ROOT, image.dockerfile), 'utf8'));
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const stage of stages) assert.match(stage.from, /^node:24(\.\d+)*-bookworm-slim$/, 'a slim Node 24 base');
    const [build, final] = [stages[0]!, stages.at(-1)!];
    assert.equal(build.name, 'build');

    // Every COPY from the build context names files that exist and that .dockerignore keeps.
    const copied: string[] = [];
    for (const stage of stages) {
      for (const { keyword, args } of stage.instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
        const sources = args.split(' ').filter((a) => !a.startsWith('--')).slice(0, -1);
        assert.ok(sources.length > 0, `${keyword} ${args}`);
        for (const source of sources) {
          assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
          assert.ok(!ignored(source, dockerignore), `${source} is not excluded by .dockerignore`);
          copied.push(source);
        }
      }
    }
    // npm ci compares the lockfile with every workspace's package.json: all must be there.
    for (const workspace of workspaces) assert.ok(copied.includes(`${workspace}/package.json`), `copies ${workspace}/package.json`);
    assert.ok(copied.includes('package-lock.json'));
    const install = build.instructions.find((i) => i.keyword === 'RUN' && i.args.includes('npm ci'));
    assert.ok(install, 'npm ci in the build stage');
    assert.match(install.args, new RegExp(`npm ci --workspace ${image.workspace} --omit=dev`));
    for (const dir of [`${image.workspace}/src`, `${image.workspace}/bin`, 'core/src', 'core/proto']) assert.ok(copied.includes(dir), `copies ${dir}`);

    // The final stage: non-root, no compilers, no disk cache under a read-only root.
    const user = final.instructions.filter((i) => i.keyword === 'USER').at(-1);
    assert.equal(user?.args, image.user);
    assert.doesNotMatch(user.args, /^(0|root)\b/);
    const finalRuns = final.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join(' ');
    assert.doesNotMatch(finalRuns, /\b(g\+\+|gcc|make|python3|build-essential|node-gyp)\b/, 'no build tools in the final stage');
    assert.doesNotMatch(finalRuns, /npm (ci|install)/, 'nothing installed from npm in the final stage');
    const env = final.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
    assert.match(env, /TSX_DISABLE_CACHE=1/);
    assert.match(env, new RegExp(`TSX_TSCONFIG_PATH=/app/${image.workspace}/tsconfig\\.json`));
    assert.ok(existsSync(join(ROOT, image.workspace, 'tsconfig.json')));

    // Entry points: /app/<path> in the image is <path> in the repository.
    const entry = final.instructions.filter((i) => i.keyword === 'ENTRYPOINT' || i.keyword === 'CMD' || i.keyword === 'RUN').map((i) => i.args).join(' ');
    const appPaths = [...entry.matchAll(/\/app\/([\w./-]+\.js)/g)].map((m) => m[1]!);
    assert.deepEqual([...new Set(appPaths)].sort(), [...image.bins].sort());
    const packageJson = JSON.parse(readFileSync(join(ROOT, image.workspace, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
    for (const bin of image.bins) {
      assert.ok(existsSync(join(ROOT, bin)), `${bin} exists`);
      assert.ok(Object.values(packageJson.bin ?? {}).some((b) => join(image.workspace, b) === bin), `${bin} is a bin of ${image.workspace}`);
      // Each bin runs its TypeScript entry through tsx; that file must exist too.
      const target = /import\('(\.\.\/src\/[^']+\.ts)'\)/.exec(readFileSync(join(ROOT, bin), 'utf8'))?.[1];
      assert.ok(target && existsSync(join(ROOT, bin, '..', target)), `${bin} imports an existing ${target}`);
    }
  });
}

test('sidecar image: iptables installed, the addon built in the build stage, reseal-proxy and reseal-init on PATH', () => {
  const { stages } = parseDockerfile(readFileSync(join(ROOT, 'sidecar/Dockerfile'), 'utf8'));
  const [build, final] = [stages[0]!, stages.at(-1)!];
  const runs = (stage: Stage): string => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join(' ');
  assert.match(runs(build), /apt-get install .*python3 make g\+\+/);
  assert.match(runs(build), /sidecar\/build\/Release\/original_dst\.node/);
  assert.match(runs(final), /apt-get install -y --no-install-recommends iptables/);
  for (const name of ['reseal-proxy', 'reseal-init']) assert.match(runs(final), new RegExp(`/usr/local/bin/${name}\\b`));
  // reseal-proxy is the esbuild bundle, made in its own stage from the sources by build-dist.mjs.
  const bundle = stages.find((stage) => stage.name === 'bundle');
  assert.ok(bundle, 'a bundle stage');
  assert.match(runs(bundle), /node sidecar\/build-dist\.mjs/);
  assert.ok(final.instructions.some((i) => i.keyword === 'COPY' && i.args === '--from=bundle /app/sidecar/dist /app/sidecar/dist'));
  assert.match(runs(final), /exec node [^"]*\/app\/sidecar\/dist\/reseal-proxy\.mjs/);
  assert.match(readFileSync(join(ROOT, 'sidecar/build-dist.mjs'), 'utf8'), /join\(SIDECAR, 'dist', 'reseal-proxy\.mjs'\)/);
  assert.equal(final.instructions.find((i) => i.keyword === 'CMD')?.args, '["reseal-proxy"]');
  assert.ok(existsSync(join(ROOT, 'sidecar/binding.gyp')));
  const addon = readFileSync(join(ROOT, 'sidecar/src/capture/original-destination.ts'), 'utf8');
  assert.match(addon, /build\/Release\/original_dst\.node/, 'the proxy loads the addon from where the image puts it');
});

test('.dockerignore keeps host builds and dependencies out of the context', () => {
  for (const path of ['node_modules', 'sidecar/node_modules', 'sidecar/build', 'e2e/cluster/.bin', 'control-plane/test', '.git']) {
    assert.ok(ignored(path, dockerignore), `${path} is excluded`);
  }
});

test('the manifests name one image per Dockerfile', () => {
  const kustomization = readFileSync(join(ROOT, 'manifests/kustomization.yaml'), 'utf8');
  for (const component of ['control-plane', 'injector']) {
    assert.match(kustomization, new RegExp(`name: ghcr\\.io/reseal/${component}\\n\\s+newTag: 0\\.1\\.0`));
    assert.ok(existsSync(join(ROOT, component, 'Dockerfile')));
  }
  assert.match(readFileSync(join(ROOT, 'manifests/injector/deployment.yaml'), 'utf8'), /value: ghcr\.io\/reseal\/sidecar:0\.1\.0/);
  assert.ok(existsSync(join(ROOT, 'sidecar/Dockerfile')));
});
