// tlkit as a user gets it: `npm pack`, then README's install line in an empty project (npm's cache from
// `npm ci` serves the dependencies; --prefer-offline), then a TypeScript consumer that imports every name
// README imports, compiles README's ```ts examples verbatim against the published types, and runs them
// (readme_examples.ts, cut down to seconds) with plain Node on the sample the package ships; and the CLI
// through npx. Nothing from the checkout is on the consumer's module path: no tsx, no src/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeBlocks, installLine, readmeImports } from './readme_code.js';
import { engineProbe, parseProbe } from './engine_probe.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const work = mkdtempSync(join(tmpdir(), 'tlkit-pack-'));
const consumer = join(work, 'consumer');
const installed = join(consumer, 'node_modules', 'tlkit');

/**
 * The environment of a user's shell: none of the npm_* variables `npm test` sets (they carry this
 * checkout's .npmrc, which skips onnxruntime-node's download), no loader in NODE_OPTIONS, and no
 * ONNXRUNTIME_NODE_INSTALL unless README's line sets it.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'NODE_OPTIONS' || key.startsWith('ONNXRUNTIME_NODE_INSTALL') || key === 'TLKIT_BACKEND') continue;
    env[key] = value;
  }
  return env;
}

function run(command: string, args: string[], options: SpawnSyncOptions & { timeout: number }): string {
  const child = spawnSync(command, args, { encoding: 'utf8', env: userEnv(), ...options });
  const output = `${child.stdout ?? ''}${child.stderr ?? ''}`;
  assert.equal(child.status, 0, `${command} ${args.join(' ')} exited ${child.status ?? child.signal}:\n${output.slice(-3000)}`);
  return String(child.stdout);
}

let tarball = '';
let tarFiles: string[] = [];

before(() => {
  // prepack builds dist/ with tsc.
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, timeout: 180_000 })) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed[0]!.filename);
  tarFiles = packed[0]!.files.map((f) => f.path);

  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'tlkit-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  const line = installLine();
  assert.ok(line, 'README has a ```sh line that runs `npm install tlkit`');
  const command = `${line.replace(/tlkit$/, `'${tarball}'`)} --prefer-offline --no-audit --no-fund`;
  run('sh', ['-c', command], { cwd: consumer, timeout: 300_000 });
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('the npm package', () => {
  it('holds dist/, bin/, the sample, README and LICENSE, and no sources, tests, benches or source maps', () => {
    for (const file of ['package.json', 'README.md', 'LICENSE', 'bin/tlkit.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/data/sample_worker.js', 'samples/fashion-shoes/LICENSE.md']) {
      assert.ok(tarFiles.includes(file), `${file} is in the tarball`);
    }
    assert.ok(tarFiles.some((f) => f.startsWith('samples/fashion-shoes/train/')) && tarFiles.some((f) => f.startsWith('samples/fashion-shoes/test/')));
    const unwanted = tarFiles.filter((f) => /^(src|test|bench|scripts|docs|\.ci)\//.test(f) || f.endsWith('.map') || /^tsconfig/.test(f) || f.endsWith('.tgz'));
    assert.deepEqual(unwanted, []);
  });

  it("installs with README's install line: no tsx and no sources in the installed tree", () => {
    assert.ok(existsSync(join(installed, 'dist', 'index.js')));
    assert.ok(!existsSync(join(installed, 'src')));
    assert.ok(!existsSync(join(consumer, 'node_modules', 'tsx')), 'tsx is a devDependency only');
    assert.ok(existsSync(join(consumer, 'node_modules', 'onnxruntime-node')), 'onnxruntime-node installed');
  });

  it("the CLI runs the compiled JavaScript: npx tlkit --version, npx tlkit models", () => {
    assert.equal(run('npx', ['--no-install', 'tlkit', '--version'], { cwd: consumer, timeout: 60_000 }).trim(), pkg.version);
    const models = run('npx', ['--no-install', 'tlkit', 'models'], { cwd: consumer, timeout: 60_000 });
    assert.match(models, /mobilenet_v2\s+MobileNetV2/);
    assert.match(models, /nsfwjs/);
  });

  it("importing 'tlkit' in plain Node leaves tf ready on wasm with tlkit's training kernels", () => {
    writeFileSync(join(consumer, 'probe.mjs'), engineProbe('tlkit'));
    const result = parseProbe(run(process.execPath, ['probe.mjs'], { cwd: consumer, timeout: 60_000 }));
    assert.equal(result.initial, 'wasm');
    assert.equal(result.backend, 'wasm');
    assert.deepEqual(result.missingWasmKernels, []);
    assert.ok(result.filterGradient > 0 && result.depthwiseGradient > 0);
  });

  it("a TypeScript consumer: README's imports and examples typecheck against the published types and run", () => {
    const names = readmeImports();
    assert.ok(names.length > 10, `README imports ${names.length} names from 'tlkit'`);
    // Every name README imports, checked by tsc and present at run time.
    writeFileSync(
      join(consumer, 'readme_imports.ts'),
      `import { ${names.join(', ')} } from 'tlkit';\n` +
        `const missing = Object.entries({ ${names.join(', ')} }).filter(([, v]) => v === undefined).map(([k]) => k);\n` +
        `if (missing.length > 0) throw new Error('undefined exports: ' + missing.join(', '));\nconsole.log('imports ok');\n`,
    );
    // README's examples verbatim, against the types; the free variables they use stand for the user's own.
    const prelude = 'declare const model: any, trainIterator: any, valIterator: any, testIterator: any, unaugmentedTrainIterator: any, images: any, labels: any;\n' +
      '// Placeholders README shows as the user\'s data (features as flat Float64Arrays, n or m rows of d values).\n' +
      'declare const trainFeatures: Float64Array, testFeatures: Float64Array, trainLabels: Int32Array, testLabels: Int32Array, n: number, m: number, d: number, classes: number;\n';
    codeBlocks('ts').forEach((block, i) => writeFileSync(join(consumer, `readme_block_${i + 1}.ts`), `${prelude}${block}export {};\n`));
    copyFileSync(fileURLToPath(new URL('./consumer/readme_examples.ts', import.meta.url)), join(consumer, 'readme_examples.ts'));
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'out',
          // The consumer's own @types/node: borrowed from the checkout rather than installed again.
          typeRoots: [join(root, 'node_modules', '@types')], types: ['node'],
        },
        include: ['*.ts'],
      }),
    );
    run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: consumer, timeout: 120_000 });
    assert.equal(run(process.execPath, ['out/readme_imports.js'], { cwd: consumer, timeout: 60_000 }).trim(), 'imports ok');

    // A few images per class of the sample the package ships, so the examples take seconds.
    const data = join(work, 'data');
    for (const [split, perClass] of [['train', 12], ['test', 6]] as const) {
      const from = join(installed, 'samples', 'fashion-shoes', split);
      for (const cls of readdirSync(from)) {
        mkdirSync(join(data, split, cls), { recursive: true });
        for (const file of readdirSync(join(from, cls)).sort().slice(0, perClass)) copyFileSync(join(from, cls, file), join(data, split, cls, file));
      }
    }
    const out = run(process.execPath, ['out/readme_examples.js', data, join(work, 'scratch')], { cwd: consumer, timeout: 240_000 });
    assert.match(out, /fit, readCheckpoint, evaluate, predict, saveModel, loadModel, trainRun$/m, 'the examples ran to the end');
  });
});
