import { runDemo } from './demo.js';
import { parseDemoOptions, UsageError, USAGE } from './demo-options.js';

const print = (line: string) => process.stdout.write(`${line}\n`);
let code: number;
try {
  const options = parseDemoOptions(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  code = await runDemo(options, print);
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`npm run demo: ${error.message}\n\n${USAGE}`);
    code = 2;
  } else {
    process.stderr.write(`npm run demo: ${(error as Error).stack ?? String(error)}\n`);
    code = 1;
  }
}
process.exit(code);
