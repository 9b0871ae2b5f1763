// The addon on its own; redirected connections are in capture-netns.test.ts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  ADDON_NOT_BUILT_MESSAGE,
  loadOriginalDstAddon,
  originalDestination,
  originalDst,
} from '../src/capture/original-destination.js';

function systemError(pattern: RegExp, code: string, syscall: string) {
  return (error: unknown): boolean => {
    const err = error as NodeJS.ErrnoException;
    assert.ok(err instanceof Error, String(error));
    assert.match(err.message, pattern);
    assert.equal(err.code, code);
    assert.equal(err.syscall, syscall);
    assert.equal(typeof err.errno, 'number');
    return true;
  };
}

describe('originalDst addon', () => {
  test('a bad descriptor throws an Error with errno text instead of crashing', () => {
    assert.throws(() => originalDst(-1), systemError(/^originalDst\(fd -1\): getsockopt failed: Bad file descriptor/, 'EBADF', 'getsockopt'));
    assert.throws(() => originalDst(987_654), systemError(/getsockname failed: Bad file descriptor/, 'EBADF', 'getsockname'));
  });

  test('a descriptor that is not a socket says so', () => {
    const fd = openSync('/dev/null', 'r');
    try {
      assert.throws(() => originalDst(fd), systemError(/Socket operation on non-socket/, 'ENOTSOCK', 'getsockname'));
    } finally {
      closeSync(fd);
    }
  });

  test('a Unix socket is not an IP socket', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reseal-odst-'));
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, 's'), resolve));
    const client = net.connect(path.join(dir, 's'));
    try {
      await once(client, 'connect');
      assert.throws(
        () => originalDestination(client),
        systemError(/not an IPv4\/IPv6 socket.*Address family not supported/, 'EAFNOSUPPORT', 'getsockname'),
      );
    } finally {
      client.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a non-number is a TypeError', () => {
    assert.throws(() => originalDst('3' as unknown as number), { name: 'TypeError', message: /fd must be a number/ });
  });

  test('a socket without a descriptor is reported, not dereferenced', () => {
    const socket = new net.Socket();
    assert.throws(() => originalDestination(socket), /the socket has no file descriptor/);
  });

  test('a missing build gives the startup error with the fix', () => {
    assert.throws(() => loadOriginalDstAddon('../../build/Release/not-there.node'), (error: unknown) => {
      assert.equal((error as Error).message, ADDON_NOT_BUILT_MESSAGE);
      assert.equal((error as Error).message, 'reseal-proxy: the SO_ORIGINAL_DST addon is not built; run npm rebuild -w @reseal/sidecar');
      return true;
    });
  });
});
