import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

export interface OriginalDestination {
  address: string;
  port: number;
  family: 4 | 6;
}

interface OriginalDstAddon {
  originalDst(fd: number): OriginalDestination;
}

export const ADDON_NOT_BUILT_MESSAGE =
  'reseal-proxy: the SO_ORIGINAL_DST addon is not built; run npm rebuild -w @reseal/sidecar';

const DEFAULT_ADDON_PATH = '../../build/Release/original_dst.node';

/** Loads the addon; a missing build is a startup error with the fix in its message. */
export function loadOriginalDstAddon(addonPath: string = DEFAULT_ADDON_PATH): OriginalDstAddon {
  const require = createRequire(import.meta.url);
  try {
    return require(addonPath) as OriginalDstAddon;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_DLOPEN_FAILED') {
      throw new Error(ADDON_NOT_BUILT_MESSAGE, { cause: error });
    }
    throw error;
  }
}

// Loaded at import so a proxy without its addon fails at startup, not on the first
// captured connection.
const addon = loadOriginalDstAddon();

/**
 * The destination a connection had before iptables REDIRECT rewrote it. Throws an
 * Error with code ENOENT when the connection was not redirected (no NAT entry).
 */
export function originalDst(fd: number): OriginalDestination {
  return addon.originalDst(fd);
}

export class NotRedirectedError extends Error {
  override name = 'NotRedirectedError';
  readonly code = 'ERR_NOT_REDIRECTED';
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

/**
 * The original destination of an accepted net.Socket that iptables redirected to us.
 *
 * Once the pod's nat table is in use every TCP connection has a conntrack entry, so the
 * kernel answers even for connections that were never redirected (a client dialling the
 * listener's port directly), and the answer is the listener itself. Forwarding there
 * would loop back into the proxy, so that case throws NotRedirectedError, as does a
 * connection with no conntrack entry at all (ENOENT from the kernel).
 */
export function originalDestination(socket: Socket): OriginalDestination {
  // libuv's TCP handle exposes the descriptor; Node has no public API for it.
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new Error('originalDestination: the socket has no file descriptor (closed, or not a TCP socket)');
  }
  let original: OriginalDestination;
  try {
    original = addon.originalDst(fd);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new NotRedirectedError(
      `originalDestination: the connection to ${socket.localAddress}:${socket.localPort} was not ` +
        'redirected by iptables (no NAT entry)',
      { cause: error },
    );
  }
  const local = socket.localAddress === undefined ? undefined : unmapped(socket.localAddress);
  if (original.address === local && original.port === socket.localPort) {
    throw new NotRedirectedError(
      `originalDestination: the connection to ${local}:${original.port} was not redirected by ` +
        'iptables (it was addressed to this listener directly)',
    );
  }
  return original;
}
