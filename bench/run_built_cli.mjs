// Runs the compiled CLI (dist/), as the installed package's bin does. Used by bench/tlkit_cli.ts.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
