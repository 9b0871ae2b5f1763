// Child process for the capture tests, run inside a test namespace with
// `ip netns exec NS node --import tsx netns-tcp-probe.ts ...`; speaks JSON lines on stdout.
//
//   listen NAME HOST:PORT...        answer every connection with "NAME:PORT" and report
//                                   what originalDestination() and originalDst() said
//   connect HOST PORT ID [--uid N]  send ID, print the reply; with --uid the socket is
//                                   created after setuid, so iptables' owner match sees N
import net from 'node:net';

import { originalDestination, originalDst } from '../../src/capture/original-destination.js';

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function describeError(error: unknown): { message: string; code: unknown; name: string } {
  const err = error as NodeJS.ErrnoException;
  return { message: err.message, code: err.code, name: err.name };
}

function attempt<T>(fn: () => T): { value?: T; error?: ReturnType<typeof describeError> } {
  try {
    return { value: fn() };
  } catch (error) {
    return { error: describeError(error) };
  }
}

function listen(name: string, endpoints: string[]): void {
  let pending = endpoints.length;
  for (const endpoint of endpoints) {
    const split = endpoint.lastIndexOf(':');
    const host = endpoint.slice(0, split);
    const port = Number(endpoint.slice(split + 1));
    const server = net.createServer((socket) => {
      // Read while the connection is fresh; the fd is gone once the peer closes.
      const wrapped = attempt(() => originalDestination(socket));
      const raw = attempt(() => originalDst((socket as unknown as { _handle: { fd: number } })._handle.fd));
      let buffered = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        const newline = buffered.indexOf('\n');
        if (newline < 0) return;
        emit({
          event: 'accepted',
          id: buffered.slice(0, newline),
          listener: `${name}:${port}`,
          local: { address: socket.localAddress, port: socket.localPort, family: socket.localFamily },
          remote: { address: socket.remoteAddress, port: socket.remotePort },
          original: wrapped.value,
          originalError: wrapped.error,
          raw: raw.value,
          rawError: raw.error,
        });
        socket.end(`${name}:${port}\n`);
      });
      socket.on('error', () => {});
    });
    server.listen({ host, port, ipv6Only: false }, () => {
      pending -= 1;
      if (pending === 0) emit({ event: 'listening', name });
    });
    server.on('error', (error) => {
      emit({ event: 'error', ...describeError(error) });
      process.exit(1);
    });
  }
}

function connect(host: string, port: number, id: string, uid: number | undefined): void {
  if (uid !== undefined) {
    if (!process.setuid || !process.setgid || !process.setgroups) throw new Error('--uid needs POSIX');
    process.setgroups([]);
    process.setgid(uid);
    process.setuid(uid);
  }
  const socket = net.connect({ host, port });
  let reply = '';
  socket.setEncoding('utf8');
  socket.setTimeout(5_000, () => {
    emit({ event: 'error', message: `no answer from ${host}:${port} within 5 s`, code: 'ETIMEDOUT' });
    process.exit(1);
  });
  socket.on('connect', () => socket.write(`${id}\n`));
  socket.on('data', (chunk: string) => {
    reply += chunk;
  });
  socket.on('end', () => {
    emit({ event: 'reply', id, reply: reply.trim(), uid: process.getuid?.() });
    process.exit(0);
  });
  socket.on('error', (error) => {
    emit({ event: 'error', ...describeError(error) });
    process.exit(1);
  });
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'listen') {
  const [name, ...endpoints] = rest;
  if (!name || endpoints.length === 0) throw new Error('listen NAME HOST:PORT...');
  listen(name, endpoints);
} else if (command === 'connect') {
  const [host, port, id, flag, uid] = rest;
  if (!host || !port || !id) throw new Error('connect HOST PORT ID [--uid N]');
  connect(host, Number(port), id, flag === '--uid' ? Number(uid) : undefined);
} else {
  throw new Error(`unknown command ${String(command)}`);
}
