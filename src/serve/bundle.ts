// The page scripts, bundled with esbuild from the tfjs packages installed beside tlkit.
//
// Bundled when a page is exported or a server starts, not at build time: tlkit runs from its sources
// (tsx) in a checkout and from dist/ when installed, and bundling on demand is the one path that works
// for both, always matches the tfjs that wrote model.json, and leaves no generated file to commit or
// keep in sync. It costs about a second for the tfjs page and milliseconds for the server page; esbuild
// is already installed (tsx runs on it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TlkitError } from '../core/errors.js';

export type PageScript = 'local' | 'server';

function entryFile(script: PageScript): string {
  const base = fileURLToPath(new URL(`./web/${script}_entry`, import.meta.url));
  // Sources in a checkout, compiled .js in dist/.
  return existsSync(`${base}.ts`) ? `${base}.ts` : `${base}.js`;
}

const bundles = new Map<PageScript, Promise<string>>();

/** The minified browser script; its exports become the global `tlkit`. Built once per process. */
export function bundlePageScript(script: PageScript): Promise<string> {
  let bundle = bundles.get(script);
  if (!bundle) {
    bundle = build(script);
    // A failed build is not kept: the next call tries again.
    bundle.catch(() => bundles.delete(script));
    bundles.set(script, bundle);
  }
  return bundle;
}

async function build(script: PageScript): Promise<string> {
  const esbuild = await import('esbuild');
  try {
    const result = await esbuild.build({
      entryPoints: [entryFile(script)],
      bundle: true,
      write: false,
      format: 'iife',
      globalName: 'tlkit',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      legalComments: 'eof',
      logLevel: 'silent',
      define: { 'process.env.NODE_ENV': '"production"' },
    });
    return result.outputFiles[0].text;
  } catch (error) {
    throw new TlkitError(`cannot bundle the ${script} page script with esbuild: ${(error as Error).message}`, { cause: error });
  }
}
