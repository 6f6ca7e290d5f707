// The tlkit command line a bench runs, as a user runs it: the installed package runs the compiled dist/
// (bin/tlkit.js in a source checkout runs the TypeScript through tsx instead, which adds about 2.5 s of
// compilation to every process). `--cli built` (the default) compiles dist/ once (`npm run build`) and
// runs it; `--cli source` runs bin/tlkit.js as a checkout does.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { flag } from './flags.js';

const ROOT = join(import.meta.dirname, '..');

/** The argv prefix that runs `tlkit` (node and a script); builds dist/ first for `--cli built`. */
export function tlkitCommand(): { argv: string[]; description: string } {
  const mode = flag('cli', 'built');
  if (mode === 'source') return { argv: [process.execPath, join(ROOT, 'bin', 'tlkit.js')], description: 'bin/tlkit.js on the TypeScript source (tsx)' };
  if (mode !== 'built') throw new Error(`--cli expects built or source; got '${mode}'`);
  const started = performance.now();
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  return { argv: [process.execPath, join(ROOT, 'bench', 'run_built_cli.mjs')], description: `dist/ as installed (npm run build: ${seconds} s)` };
}
