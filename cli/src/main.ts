import { readFileSync } from 'node:fs';
import { runInjectCommand } from './inject-command.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const USAGE = `usage: reseal <command> [flags]

commands:
  inject     add the Reseal sidecar to workload manifests (reseal inject -h)
  version    print the version
`;

const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
const [command, ...rest] = process.argv.slice(2);

let code: number;
switch (command) {
  case 'inject':
    code = await runInjectCommand(rest, io, VERSION);
    break;
  case 'version':
  case '--version':
    process.stdout.write(`reseal ${VERSION}\n`);
    code = 0;
    break;
  case undefined:
  case 'help':
  case '-h':
  case '--help':
    process.stdout.write(USAGE);
    code = command === undefined ? 2 : 0;
    break;
  default:
    process.stderr.write(`reseal: unknown command "${command}"\n\n${USAGE}`);
    code = 2;
}
// Let stdout drain (a pipe may be slow) rather than exit mid-write.
process.exitCode = code;
