// No registry, no container runtime: each image the e2e's pods name maps to the local
// entry point that the image would run, with the image's USER and ENV (see the
// Dockerfiles). The Reseal images run the built workspace packages of this checkout.
import { fileURLToPath } from 'node:url';
import type { ImageTable } from '../runner/image-table.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const node = process.execPath;
// tsx as an --import URL, so that a TypeScript entry runs from any working directory.
const tsx = import.meta.resolve('tsx');

const runtimeEnv = (pkg: string): Record<string, string> => ({
  NODE_ENV: 'production',
  TSX_DISABLE_CACHE: '1',
  TSX_TSCONFIG_PATH: `${repo}${pkg}/tsconfig.json`,
});

/** Repository (no tag) → entry. */
export const E2E_IMAGES: ImageTable = {
  'ghcr.io/reseal/sidecar': {
    entrypoint: [],
    cmd: ['reseal-proxy'],
    commands: {
      // As the image's /usr/local/bin/reseal-proxy: the bundle `npm run build` makes.
      'reseal-proxy': [node, '--max-semi-space-size=1', `${repo}sidecar/dist/reseal-proxy.mjs`],
      'reseal-init': [node, `${repo}sidecar/bin/reseal-init.js`],
      node: [node],
    },
    env: { ...runtimeEnv('sidecar'), MALLOC_ARENA_MAX: '2' },
    uid: 1337,
    gid: 1337,
    workingDir: `${repo}sidecar`,
  },
  'ghcr.io/reseal/control-plane': {
    entrypoint: [node, `${repo}control-plane/bin/reseal-control-plane.js`],
    env: runtimeEnv('control-plane'),
    uid: 65532,
    gid: 65532,
    workingDir: `${repo}control-plane`,
  },
  'ghcr.io/reseal/injector': {
    entrypoint: [node, `${repo}injector/bin/reseal-injector.js`],
    env: runtimeEnv('injector'),
    uid: 65532,
    gid: 65532,
    workingDir: `${repo}injector`,
  },
  // The ingress controller: our stand-in for ingress-nginx, running the Debian nginx.
  'reseal-e2e/ingress-nginx': {
    entrypoint: [node, '--import', tsx, `${repo}e2e/apps/ingress-nginx/main.ts`],
    env: { TSX_DISABLE_CACHE: '1', TSX_TSCONFIG_PATH: `${repo}e2e/tsconfig.json` },
    workingDir: `${repo}e2e`,
  },
  'reseal-e2e/echo': {
    entrypoint: [node, '--import', tsx, `${repo}e2e/apps/echo/main.ts`],
    env: { TSX_DISABLE_CACHE: '1', TSX_TSCONFIG_PATH: `${repo}e2e/tsconfig.json` },
    workingDir: `${repo}e2e`,
  },
  'reseal-e2e/toolbox': {
    entrypoint: [node, '--import', tsx, `${repo}e2e/apps/toolbox/main.ts`],
    env: { TSX_DISABLE_CACHE: '1', TSX_TSCONFIG_PATH: `${repo}e2e/tsconfig.json` },
    workingDir: `${repo}e2e`,
  },
};

export const REPO_ROOT = repo;
