// Preloaded (node --import) into every Node process the demo starts:
//  - the process stops when the demo dies: the demo holds the write end of its stdin, and the
//    kernel closes it when the demo exits for any reason, crash and SIGKILL included;
//  - every listener binds 127.0.0.1: a listen on the wildcard address (the sidecar's admin
//    port defaults to 0.0.0.0 and has no setting for its host yet) is narrowed to loopback.
import net from 'node:net';

const WILDCARD = new Set(['0.0.0.0', '::', '', undefined]);
const original = net.Server.prototype.listen;
net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]) {
  const [first, second] = args;
  if (typeof first === 'object' && first !== null && !Array.isArray(first) && 'port' in first) {
    const options = first as net.ListenOptions;
    if (WILDCARD.has(options.host)) args[0] = { ...options, host: '127.0.0.1' };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof second === 'string' && WILDCARD.has(second)) args[1] = '127.0.0.1';
    else if (typeof second !== 'string') args.splice(1, 0, '127.0.0.1');
  }
  return original.apply(this, args as Parameters<typeof original>);
} as typeof original;

// The demo never writes to stdin; end-of-file means it is gone.
process.stdin.on('data', () => undefined);
process.stdin.once('end', () => {
  process.kill(process.pid, 'SIGTERM');
  // A process that does not stop on SIGTERM within a few seconds is not left behind.
  setTimeout(() => process.exit(1), 5000).unref();
});
