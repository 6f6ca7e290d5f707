// The on-disk cache of compiled graphs (compiled_cache.ts): a second compile of the same training step
// or frozen prefix is a hit and computes exactly what the first did; a changed architecture, trainable
// set, batch size or frozen weight misses; a damaged entry is ignored and rebuilt.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initEngine, tf, tfl } from '../../../src/engines/tfjs/tf.js';
import '../../../src/models/batchnorm.js';
import { compileTrainingStep, type CompiledTrainingStep } from '../../../src/engines/onnx/training/compile_training_step.js';
import { createFrozenEngine } from '../../../src/engines/onnx/frozen_features.js';
import { defaultCacheDir, resolveCacheDir } from '../../../src/engines/onnx/compiled_cache.js';
import { randomInput, randomizeWeights } from './parity.js';

type ST = tfl.SymbolicTensor;
const L = tfl.layers;
const apply = (layer: tfl.layers.Layer, x: ST | ST[]): ST => layer.apply(x) as ST;

let dir: string;
before(async () => {
  await initEngine();
  dir = await mkdtemp(path.join(os.tmpdir(), 'tlkit-compiled-cache-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Conv + BatchNorm + ReLU6 + depthwise + GAP + Dense softmax; layers auto-named (numbered per process). */
function smallNet(filters = 8, seed = 3): tfl.LayersModel {
  const input = tfl.input({ shape: [12, 10, 3] });
  let h = apply(L.conv2d({ filters, kernelSize: 3, strides: 2, padding: 'same', useBias: false }), input);
  h = apply(L.batchNormalization({ momentum: 0.9 }), h);
  h = apply(L.reLU({ maxValue: 6 }), h);
  h = apply(L.depthwiseConv2d({ kernelSize: 3, padding: 'same' }), h);
  h = apply(L.globalAveragePooling2d({}), h);
  const model = tfl.model({ inputs: input, outputs: apply(L.dense({ units: 3, activation: 'softmax' }), h) });
  randomizeWeights(model, seed);
  return model;
}

const entries = async (): Promise<string[]> => (await readdir(path.join(dir, 'onnx')).catch(() => [] as string[])).filter((f) => f.endsWith('.tlkc')).sort();

const compile = (model: tfl.LayersModel, batchSize = 4): Promise<CompiledTrainingStep> =>
  compileTrainingStep(model, { loss: 'sparse_categorical_crossentropy', learningRate: 1e-2, batchSize, intraOpNumThreads: 1, cacheDir: dir });

/** Two steps on fixed batches of `shape`: losses, outputs, and the optimizer's slots afterwards. */
async function twoSteps(step: CompiledTrainingStep, shape = [4, 12, 10, 3], seed = 40): Promise<{ losses: number[]; output: number[]; slots: number[][] }> {
  const losses: number[] = [];
  let output: number[] = [];
  for (let i = 0; i < 2; i++) {
    const result = await step.step(randomInput(shape, seed + i), [0, 2, 1, i]);
    losses.push(result.loss);
    output = Array.from(result.output);
  }
  return { losses, output, slots: step.getOptimizerState().slots.map((s) => Array.from(s)) };
}

describe('compiled training step cache', () => {
  test('the second compile is a hit and trains exactly as the first; a changed architecture, trainable set or batch size misses', async () => {
    const model = smallNet();
    const first = await compile(model);
    assert.equal(first.compileInfo.cache, 'miss');
    assert.ok(first.compileInfo.compileMs > 0);
    assert.equal((await entries()).length, 1);
    // The same architecture built again (new layer names, other weights): still a hit, weights are inputs.
    const again = await compile(smallNet(8, 99));
    assert.equal(again.compileInfo.cache, 'hit');
    await again.dispose();

    const second = await compile(model);
    assert.equal(second.compileInfo.cache, 'hit');
    assert.deepEqual(await twoSteps(second), await twoSteps(first));
    await Promise.all([first.dispose(), second.dispose()]);

    const wider = await compile(smallNet(16));
    assert.equal(wider.compileInfo.cache, 'miss');
    await wider.dispose();
    const bigger = await compile(model, 2);
    assert.equal(bigger.compileInfo.cache, 'miss');
    await bigger.dispose();
    model.layers[1].trainable = false;
    const frozen = await compile(model);
    assert.equal(frozen.compileInfo.cache, 'miss');
    await frozen.dispose();
    assert.equal((await entries()).length, 4);
  });

  test('a damaged entry is ignored, rebuilt and stored again', async () => {
    const model = smallNet(4);
    const reference = await compileTrainingStep(model, { loss: 'sparse_categorical_crossentropy', learningRate: 1e-2, batchSize: 4, intraOpNumThreads: 1, cacheDir: false });
    assert.equal(reference.compileInfo.cache, 'off');
    const expected = await twoSteps(reference);
    await reference.dispose();

    const before = new Set(await entries());
    const built = await compile(model);
    const file = path.join(dir, 'onnx', (await entries()).find((f) => !before.has(f))!);
    await built.dispose();
    const good = await readFile(file);
    const damaged = [
      good.subarray(0, good.length - 100), // truncated
      Buffer.concat([good.subarray(0, good.length - 50), Buffer.alloc(50, 0x41)]), // bytes changed in the graph
      Buffer.from('not a cache entry'),
      changeConstant(good, 6, 5), // still a valid graph (ReLU6 clips at 5): only the checksum tells
    ];
    for (const bytes of damaged) {
      await writeFile(file, bytes);
      const step = await compile(model);
      assert.equal(step.compileInfo.cache, 'miss');
      assert.deepEqual(await twoSteps(step), expected);
      await step.dispose();
      assert.deepEqual(await readFile(file), good, 'the rebuilt entry is stored again');
    }
    const healed = await compile(model);
    assert.equal(healed.compileInfo.cache, 'hit');
    assert.deepEqual(await twoSteps(healed), expected);
    await healed.dispose();
  });
});

describe('constant fills in the cached step', () => {
  test("a MaxPool gradient's folded zeros (1 MiB) are stored as ConstantOfShape: a small entry that trains exactly as the miss", async () => {
    // MaxPool input [4, 16, 64, 64] = 262144 floats: onnxruntime folds its ConstantOfShape into 1 MiB of zeros.
    const input = tfl.input({ shape: [64, 64, 3] });
    let h = apply(L.conv2d({ filters: 16, kernelSize: 3, padding: 'same' }), input);
    h = apply(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), h);
    h = apply(L.globalAveragePooling2d({}), h);
    const model = tfl.model({ inputs: input, outputs: apply(L.dense({ units: 3, activation: 'softmax' }), h) });
    randomizeWeights(model, 7);
    const steps = (step: CompiledTrainingStep) => twoSteps(step, [4, 64, 64, 3], 60);
    const before = new Set(await entries());
    const first = await compile(model);
    assert.equal(first.compileInfo.cache, 'miss');
    const file = path.join(dir, 'onnx', (await entries()).find((f) => !before.has(f))!);
    const stored = await readFile(file);
    assert.ok(stored.length < 512 * 1024, `entry of ${stored.length} bytes: the zeros were stored`);
    assert.ok(stored.includes(Buffer.from('ConstantOfShape')));
    const second = await compile(model);
    assert.equal(second.compileInfo.cache, 'hit');
    assert.deepEqual(await steps(second), await steps(first));
    await Promise.all([first.dispose(), second.dispose()]);
  });
});

/** `bytes` with every float32 `from` (little-endian) replaced by `to`. */
function changeConstant(bytes: Buffer, from: number, to: number): Buffer {
  const pattern = Buffer.alloc(4);
  pattern.writeFloatLE(from);
  const replacement = Buffer.alloc(4);
  replacement.writeFloatLE(to);
  const out = Buffer.from(bytes);
  let count = 0;
  for (let i = out.indexOf(pattern); i >= 0; i = out.indexOf(pattern, i + 4)) {
    replacement.copy(out, i);
    count++;
  }
  assert.ok(count > 0, `no float ${from} in the entry`);
  return out;
}

describe('frozen prefix cache', () => {
  test('hit with the same features; a changed frozen weight misses', async () => {
    const model = smallNet(8, 5);
    const cut = model.layers[3].name; // after the ReLU6
    const x = randomInput([3, 12, 10, 3], 8);
    const first = await createFrozenEngine(model, { frozenUpTo: cut, cacheDir: dir, intraOpNumThreads: 1 });
    const second = await createFrozenEngine(model, { frozenUpTo: cut, cacheDir: dir, intraOpNumThreads: 1 });
    assert.equal(first.compileInfo.cache, 'miss');
    assert.equal(second.compileInfo.cache, 'hit');
    assert.equal(second.fingerprint, first.fingerprint);
    assert.deepEqual(Array.from((await second.features(x)).dataSync()), Array.from((await first.features(x)).dataSync()));
    const inWorker = await createFrozenEngine(model, { frozenUpTo: cut, cacheDir: dir, intraOpNumThreads: 1, worker: true });
    assert.equal(inWorker.compileInfo.cache, 'hit');
    assert.deepEqual(Array.from((await inWorker.features(x)).dataSync()), Array.from((await first.features(x)).dataSync()));

    const conv = model.layers[1];
    conv.setWeights(conv.getWeights().map((w) => tf.add(w, 0.01)));
    const changed = await createFrozenEngine(model, { frozenUpTo: cut, cacheDir: dir, intraOpNumThreads: 1 });
    assert.equal(changed.compileInfo.cache, 'miss');
    assert.notEqual(changed.fingerprint, first.fingerprint);
    await Promise.all([first.dispose(), second.dispose(), inWorker.dispose(), changed.dispose()]);
  });
});

describe('cache directory', () => {
  test('TLKIT_CACHE_DIR, then XDG_CACHE_HOME/tlkit, then ~/.cache/tlkit; off switches it off; an option wins', () => {
    const saved = { dir: process.env.TLKIT_CACHE_DIR, xdg: process.env.XDG_CACHE_HOME };
    try {
      process.env.TLKIT_CACHE_DIR = '/somewhere/tlkit-cache';
      assert.equal(resolveCacheDir(undefined), '/somewhere/tlkit-cache');
      assert.equal(resolveCacheDir('/given'), '/given');
      assert.equal(resolveCacheDir(false), false);
      process.env.TLKIT_CACHE_DIR = 'off';
      assert.equal(resolveCacheDir(undefined), false);
      delete process.env.TLKIT_CACHE_DIR;
      process.env.XDG_CACHE_HOME = '/xdg';
      assert.equal(defaultCacheDir(), path.join('/xdg', 'tlkit'));
      delete process.env.XDG_CACHE_HOME;
      assert.equal(defaultCacheDir(), path.join(os.homedir(), '.cache', 'tlkit'));
    } finally {
      for (const [key, value] of [['TLKIT_CACHE_DIR', saved.dir], ['XDG_CACHE_HOME', saved.xdg]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
