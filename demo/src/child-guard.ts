// Preloaded (node --import) into every Node process the demo starts: the process stops when
// the demo dies. The demo holds the write end of its stdin, and the kernel closes it when the
// demo exits for any reason, crash and SIGKILL included.
// The demo never writes to stdin; end-of-file means it is gone.
process.stdin.on('data', () => undefined);
process.stdin.once('end', () => {
  process.kill(process.pid, 'SIGTERM');
  // A process that does not stop on SIGTERM within a few seconds is not left behind.
  setTimeout(() => process.exit(1), 5000).unref();
});
