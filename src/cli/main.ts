// tlkit's command line: parse -> options -> library -> print. The one place that maps errors to exit codes.
import { TlkitError, UsageError } from '../core/errors.js';
import type { CliIO, Command } from './command.js';
import { commands } from './commands/index.js';

function topUsage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'tlkit: transfer learning for image classification on Node.js',
    '',
    'Usage: tlkit COMMAND [options]      (tlkit COMMAND --help for its options)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[], io?: Partial<CliIO>): Promise<number> {
  const out: CliIO = {
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    interactive: io?.interactive ?? Boolean(process.stderr.isTTY),
  };
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out.stdout.write(topUsage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    out.stdout.write(pkg.version + '\n');
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    out.stderr.write(`tlkit: unknown command '${name}'. Commands: ${commands.map((c) => c.name).join(', ')}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out.stdout.write(command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(rest, out);
  } catch (error) {
    if (error instanceof UsageError) {
      out.stderr.write(`tlkit ${name}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof TlkitError) {
      out.stderr.write(`tlkit ${name}: ${error.message}\n`);
      return 1;
    }
    const message = error instanceof Error ? (process.env.TLKIT_DEBUG ? error.stack : error.message) : String(error);
    out.stderr.write(`tlkit ${name}: unexpected error: ${message}\n(set TLKIT_DEBUG=1 for the stack trace)\n`);
    return 1;
  }
}
