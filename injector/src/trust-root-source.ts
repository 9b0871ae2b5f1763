import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { pollFiles, type FilePoller } from './file-poller.js';
import { trustRootHash } from './patch/trust-root-hash.js';

export interface TrustRootSource {
  /** sha256 of the bundle, or undefined while it cannot be read (pods then go without the annotation). */
  hash(): string | undefined;
  stop(): void;
}

/** A fixed hash from configuration. */
export function fixedTrustRoot(hash: string | undefined): TrustRootSource {
  return { hash: () => hash, stop: () => undefined };
}

/**
 * The hash of a mounted trust bundle, kept current: after a root rotation, newly injected
 * pods record the new bundle. A missing file is not fatal, since injection does not depend on
 * it; only the marker annotation is left off until it appears.
 */
export async function watchTrustBundle(file: string, intervalMs: number, logger: Logger): Promise<TrustRootSource> {
  let content: Buffer | undefined;
  try {
    content = await readFile(file);
  } catch (error) {
    logger.warn({ event: 'trust_bundle_unreadable', file, err: error }, 'trust bundle not readable yet; injecting without reseal.dev/trust-root-hash');
  }
  let hash = content ? trustRootHash(content) : undefined;
  const poller: FilePoller = pollFiles(
    [file],
    content ? [content] : undefined,
    intervalMs,
    ([next]) => {
      hash = trustRootHash(next as Buffer);
      logger.info({ event: 'trust_bundle_changed', trustRootHash: hash }, 'trust bundle changed');
    },
    () => undefined,
  );
  return { hash: () => hash, stop: () => poller.stop() };
}
