#!/usr/bin/env node
// Thin launcher. The installed package ships only dist/ (compiled on prepack), so it runs that; a source
// checkout (src/ present, tsx installed as a devDependency) runs the TypeScript through tsx, so edits
// take effect without a build.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli', 'main.ts');
const built = join(root, 'dist', 'cli', 'main.js');

function tsxApi() {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return undefined;
  }
}

let entry = built;
const tsx = existsSync(source) ? tsxApi() : undefined;
if (tsx) {
  (await import(tsx)).register();
  entry = source;
} else if (!existsSync(built)) {
  process.stderr.write(`tlkit: ${built} is missing: run \`npm run build\` (or \`npm ci\` for tsx) in ${root}\n`);
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
