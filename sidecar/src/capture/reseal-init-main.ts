// The init container's entry point: `reseal-init --proxy-uid 1337 --mode full ...`.
import { resealInit } from './reseal-init.js';

// The log is a courtesy; the rules are the job. A reader that goes away (`| head`) must
// not abort the run between two iptables commands.
process.stdout.on('error', () => {});

process.exitCode = await resealInit(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
