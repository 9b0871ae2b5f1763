// There is no image pulling: the test says what each image "contains" by mapping its
// repository to local commands, the way a Dockerfile's ENTRYPOINT/CMD/ENV would.

export interface ImageSpec {
  /** The image's ENTRYPOINT, as local argv (e.g. [process.execPath, '/path/app.js']). */
  entrypoint: string[];
  /** The image's CMD, appended to the entrypoint when the container gives neither command nor args. */
  cmd?: string[];
  /** Maps a container `command[0]` (exact, or by basename) to local argv, e.g. 'reseal-proxy' → [node, proxy.js]. */
  commands?: Record<string, string[]>;
  /** The image's ENV; container env overrides it. */
  env?: Record<string, string>;
  /** The image's WORKDIR (default /). */
  workingDir?: string;
  /** The image's USER, used when neither container nor pod sets runAsUser/runAsGroup (default 0). */
  uid?: number;
  gid?: number;
}

/** Keyed by repository without tag or digest, e.g. 'reseal-e2e/fixture' or 'ghcr.io/org/proxy'. */
export type ImageTable = Record<string, ImageSpec>;

/** 'docker.io/library/nginx:1.27@sha256:…' → 'nginx'; 'ghcr.io:443/a/b:1' → 'ghcr.io:443/a/b'. */
export function imageRepository(image: string): string {
  let repo = image.split('@')[0] ?? image;
  const lastSlash = repo.lastIndexOf('/');
  const colon = repo.indexOf(':', lastSlash + 1);
  if (colon >= 0) repo = repo.slice(0, colon);
  repo = repo.replace(/^(docker\.io|index\.docker\.io)\//, '');
  repo = repo.replace(/^library\//, '');
  return repo;
}

export function lookupImage(table: ImageTable, image: string | undefined): ImageSpec | undefined {
  if (!image) return undefined;
  const wanted = imageRepository(image);
  for (const [key, spec] of Object.entries(table)) {
    if (imageRepository(key) === wanted) return spec;
  }
  return undefined;
}
