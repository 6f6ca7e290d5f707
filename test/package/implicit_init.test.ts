// Importing tlkit leaves tf ready with tlkit's kernels: no "backend 'wasm' has not yet been initialized",
// and no way to end up on wasm without the training kernels. Each case is a fresh process, since a
// backend starts once per process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { engineProbe, parseProbe, type ProbeResult } from './engine_probe.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const index = pathToFileURL(fileURLToPath(new URL('../../src/index.ts', import.meta.url))).href;

function run(source: string, env: Record<string, string> = {}) {
  const { TLKIT_BACKEND: _, ...base } = process.env;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { cwd: root, env: { ...base, ...env }, encoding: 'utf8', timeout: 120_000 });
}

function probe(env: Record<string, string>, options: Parameters<typeof engineProbe>[1]): ProbeResult {
  const child = run(engineProbe(index, options), env);
  assert.equal(child.status, 0, child.stderr.slice(-1500));
  return parseProbe(child.stdout);
}

function assertTrainsOnWasm(result: ProbeResult): void {
  assert.equal(result.sum, 6);
  assert.equal(result.backend, 'wasm');
  assert.deepEqual(result.missingWasmKernels, []);
  assert.ok(Number.isFinite(result.filterGradient) && result.filterGradient > 0, `conv2d filter gradient ${result.filterGradient}`);
  assert.ok(Number.isFinite(result.depthwiseGradient) && result.depthwiseGradient > 0, `depthwise gradients ${result.depthwiseGradient}`);
}

describe("importing 'tlkit'", () => {
  it('makes the first tensor on wasm with the training kernels, no init call needed; initEngine(backend) then switches', () => {
    const result = probe({}, { thenInitEngine: 'cpu' });
    assert.equal(result.initial, 'wasm');
    assertTrainsOnWasm(result);
    assert.deepEqual(result.afterInitEngine, ['cpu', 'cpu']);
  });

  it('honours TLKIT_BACKEND=cpu, and a later tf.setBackend("wasm") by the caller still gets the kernels', () => {
    const result = probe({ TLKIT_BACKEND: 'cpu' }, { switchTo: 'wasm' });
    assert.equal(result.initial, 'cpu');
    assertTrainsOnWasm(result);
  });
});

// What the import guards against, pinned so that the probe above is known to detect it.
describe('stock tfjs (why tlkit initialises on import)', () => {
  it('throws on the first tensor before wasm is ready, and its wasm cannot train a convolution', () => {
    const early = run(`import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-wasm';
      tf.tensor1d([1, 2, 3]);`);
    assert.notEqual(early.status, 0);
    assert.match(early.stderr.slice(-3000), /backend 'wasm' has not yet been initialized/);
    const stock = run(`import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-layers'; import '@tensorflow/tfjs-backend-wasm';
      await tf.setBackend('wasm'); await tf.ready();
      const x = tf.ones([1, 4, 4, 1]);
      tf.grad((f) => tf.sum(tf.conv2d(x, f, 1, 'same')))(tf.ones([3, 3, 1, 1]));`);
    assert.notEqual(stock.status, 0);
    assert.match(stock.stderr.slice(-3000), /'Conv2DBackpropFilter' not registered for backend 'wasm'/);
  });
});
