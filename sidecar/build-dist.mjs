// Builds dist/reseal-proxy.mjs: src/main.ts and the workspace sources it imports (the
// sidecar's and @reseal/core's), bundled by esbuild into one ES module for plain node. The
// image runs it (see Dockerfile); bin/reseal-proxy.js runs the sources through tsx, for
// development and the tests.
//
//   node build-dist.mjs          (npm run build; turbo runs it before the tests)
//
// Why: through tsx the proxy starts in 2–4 s and idles at ~95–115 MB RSS (tsx's loader,
// esbuild's service, the transformed sources); the bundle starts in ~0.5 s and idles at
// ~80 MB. npm dependencies are bundled too (one module instead of hundreds of files saves
// ~7 MB and ~0.3 s more), except gRPC: protobufjs, under @grpc/proto-loader, requires
// modules by computed names, so it loads as published from node_modules.
//
// Sources that find files next to themselves (the SO_ORIGINAL_DST addon, .proto files)
// use import.meta.url; in the bundle it would point at dist/, so each bundled module's
// import.meta.url is rewritten to its source file's URL, resolved against the bundle's own
// location at run time: the layout of the tree around dist/ is what it finds.

import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const SIDECAR = dirname(fileURLToPath(import.meta.url));
export const DIST_ENTRY = join(SIDECAR, 'dist', 'reseal-proxy.mjs');

/** Bundles `entry` (default src/main.ts) into `outfile` (default dist/reseal-proxy.mjs). */
export async function buildDist({ entry = join(SIDECAR, 'src', 'main.ts'), outfile = DIST_ENTRY } = {}) {
  const { build } = await import('esbuild');
  const outDir = dirname(outfile);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    logLevel: 'warning',
    external: ['@grpc/grpc-js', '@grpc/proto-loader'],
    // CommonJS dependencies (pino, OpenTelemetry) call require().
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    plugins: [
      {
        name: 'reseal-dist',
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, async (args) => {
            let contents = await readFile(args.path, 'utf8');
            if (contents.includes('import.meta.url')) {
              const source = JSON.stringify(relative(outDir, args.path).split('\\').join('/'));
              contents = contents.replaceAll('import.meta.url', `new URL(${source}, import.meta.url).href`);
            }
            return { contents, loader: 'ts' };
          });
        },
      },
    ],
  });
  return outfile;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildDist();
  process.stdout.write(`built ${relative(process.cwd(), out)}\n`);
}
