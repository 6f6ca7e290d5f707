import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { foldBatchNorm, removeBatchNorm } from '../../src/models/batchnorm.js';
import { isFrozen } from '../../src/engines/tfjs/batch_norm_layer.js';
import { rewriteModel } from '../../src/models/graph_rewrite.js';
import { summarize } from '../../src/models/summary.js';

before(async () => {
  await initEngine();
});

/** Deterministic pseudo-random values in [-1, 1). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function randomTensor(shape: number[], seed: number, scale = 1, offset = 0): tf.Tensor {
  const r = seeded(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => offset + scale * r()), shape);
}

/** Gives every weight deterministic values; BN moving stats far from the (0, 1) defaults. */
function randomiseWeights(model: tfl.LayersModel, seed: number): void {
  let k = seed;
  for (const layer of model.layers) {
    const values = layer.weights.map((w) => {
      const kind = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
      k += 1;
      if (kind === 'moving_variance') return randomTensor(w.shape as number[], k, 0.5, 1.0); // in [0.5, 1.5)
      if (kind === 'gamma') return randomTensor(w.shape as number[], k, 0.5, 1.0);
      if (kind === 'moving_mean') return randomTensor(w.shape as number[], k, 0.5);
      return randomTensor(w.shape as number[], k, 0.3);
    });
    layer.setWeights(values);
  }
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function denseBnModel(name: string): { model: tfl.LayersModel; bn: tfl.layers.Layer } {
  const input = tfl.input({ shape: [4], name: `${name}_in` });
  const h = tfl.layers.dense({ units: 3, name: `${name}_dense` }).apply(input) as tfl.SymbolicTensor;
  const bnLayer = tfl.layers.batchNormalization({ name: `${name}_bn` });
  const b = bnLayer.apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 1, name: `${name}_out` }).apply(b) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out, name });
  randomiseWeights(model, 7);
  return { model, bn: bnLayer };
}

async function fitBriefly(model: tfl.LayersModel): Promise<void> {
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  const x = randomTensor([16, 4], 11, 2, 1);
  const y = randomTensor([16, 1], 12);
  await model.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
  x.dispose();
  y.dispose();
}

function stats(bn: tfl.layers.Layer): { mean: number[]; variance: number[] } {
  const byKind = new Map(bn.weights.map((w) => [w.originalName.slice(w.originalName.lastIndexOf('/') + 1), Array.from(w.read().dataSync())]));
  return { mean: byKind.get('moving_mean')!, variance: byKind.get('moving_variance')! };
}

test('a trainable BatchNormalization moves its statistics during fit (the baseline)', async () => {
  const { model, bn } = denseBnModel('trainable_bn');
  const before = stats(bn);
  await fitBriefly(model);
  const after = stats(bn);
  assert.notDeepEqual(after.mean, before.mean);
  assert.notDeepEqual(after.variance, before.variance);
});

test('a frozen BatchNormalization keeps its statistics in fit and runs in inference mode, as in Keras', async () => {
  const { model, bn } = denseBnModel('frozen_bn');
  bn.trainable = false;
  assert.equal(isFrozen(bn), true);
  const before = stats(bn);
  const gammaBefore = Array.from(bn.weights[0].read().dataSync());
  await fitBriefly(model);
  const after = stats(bn);
  assert.deepEqual(after.mean, before.mean);
  assert.deepEqual(after.variance, before.variance);
  assert.deepEqual(Array.from(bn.weights[0].read().dataSync()), gammaBefore, 'gamma is frozen too');

  // Training-mode forward equals inference forward for the frozen layer.
  const x = randomTensor([5, 3], 21, 3, 2);
  const training = bn.apply(x, { training: true }) as tf.Tensor;
  const inference = bn.apply(x, { training: false }) as tf.Tensor;
  assert.ok(maxAbsDiff(training, inference) === 0);
  bn.trainable = true;
  const batchStats = bn.apply(x, { training: true }) as tf.Tensor;
  assert.ok(maxAbsDiff(batchStats, inference) > 1e-3, 'unfrozen BN in training mode uses batch statistics');
  tf.dispose([x, training, inference, batchStats]);
});

test('a BatchNormalization frozen through its enclosing model is frozen too', async () => {
  const { model: inner, bn } = denseBnModel('inner');
  const input = tfl.input({ shape: [4] });
  const y = tfl.layers.dense({ units: 1, name: 'outer_out' }).apply(inner.apply(input) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  const outer = tfl.model({ inputs: input, outputs: y });
  inner.trainable = false;
  assert.equal(isFrozen(bn), true);
  const before = stats(bn);
  await fitBriefly(outer);
  assert.deepEqual(stats(bn), before);
});

/** A small graph with every case folding must handle, and two it must leave alone. */
function convNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 9, 3], name: 'image' });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, useBias: false, name: 'conv_a' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'conv_a_bn', epsilon: 1e-3 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ maxValue: 6, name: 'conv_a_relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', useBias: false, name: 'dw' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'dw_bn', epsilon: 1.001e-5 }).apply(x) as tfl.SymbolicTensor;
  const branch = tfl.layers.conv2d({ filters: 8, kernelSize: 1, useBias: true, name: 'conv_b' }).apply(x) as tfl.SymbolicTensor;
  // conv_b's output feeds a BN and an Add: not foldable (the Add needs the unnormalised value).
  const bnB = tfl.layers.batchNormalization({ name: 'conv_b_bn' }).apply(branch) as tfl.SymbolicTensor;
  x = tfl.layers.add({ name: 'add' }).apply([bnB, branch]) as tfl.SymbolicTensor;
  x = tfl.layers.separableConv2d({ filters: 5, kernelSize: 3, useBias: false, name: 'sep' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'sep_bn', scale: false }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 6, kernelSize: 1, useBias: true, name: 'conv_c' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'conv_c_bn', center: false }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 3, name: 'fc' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'fc_bn' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: x, name: 'convnet' });
  randomiseWeights(model, 100);
  return model;
}

function classNames(model: tfl.LayersModel): string[] {
  return model.layers.map((l) => l.getClassName());
}

test('foldBatchNorm folds conv/depthwise/separable/dense + BN and matches inference outputs within 1e-4', () => {
  const model = convNet();
  const folded = foldBatchNorm(model);
  const remaining = folded.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.name);
  assert.deepEqual(remaining, ['conv_b_bn'], 'only the BN whose input also feeds the Add stays');
  assert.equal(folded.getLayer('conv_a').getConfig().useBias, true, 'a bias is added where there was none');
  const x = randomTensor([2, 9, 9, 3], 5, 2);
  const expected = model.predict(x) as tf.Tensor;
  const got = folded.predict(x) as tf.Tensor;
  const diff = maxAbsDiff(expected, got);
  assert.ok(diff < 1e-4, `max |diff| = ${diff}`);
  // The outputs are not trivially small, so the tolerance means something.
  assert.ok(tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0]) > 0.1);
  // The original model is untouched.
  assert.equal(model.getLayer('conv_a').getConfig().useBias, false);
  tf.dispose([x, expected, got]);
});

test('removeBatchNorm drops every BatchNormalization and keeps the other weights', () => {
  const model = convNet();
  const removed = removeBatchNorm(model);
  assert.ok(!classNames(removed).includes('BatchNormalization'));
  assert.deepEqual(
    removed.layers.map((l) => l.name),
    model.layers.filter((l) => l.getClassName() !== 'BatchNormalization').map((l) => l.name),
  );
  const bnParams = model.layers.filter((l) => l.getClassName() === 'BatchNormalization').reduce((s, l) => s + l.countParams(), 0);
  assert.equal(removed.countParams(), model.countParams() - bnParams);
  const s = summarize(removed);
  assert.equal(s.nonTrainableParams, 0);
  assert.equal(maxAbsDiff(removed.getLayer('sep').getWeights()[1], model.getLayer('sep').getWeights()[1]), 0);
});

test('rewriteModel without a hook reproduces the model with independent weights', () => {
  const model = convNet();
  const copy = rewriteModel(model, undefined, { name: 'copy' });
  assert.equal(copy.name, 'copy');
  assert.deepEqual(copy.layers.map((l) => l.name), model.layers.map((l) => l.name));
  const x = randomTensor([1, 9, 9, 3], 9);
  const a = model.predict(x) as tf.Tensor;
  const b = copy.predict(x) as tf.Tensor;
  assert.equal(maxAbsDiff(a, b), 0);
  copy.getLayer('fc').setWeights([tf.zeros([6, 3]), tf.zeros([3])]);
  const c = model.predict(x) as tf.Tensor;
  assert.equal(maxAbsDiff(a, c), 0, 'changing the copy leaves the original alone');
  tf.dispose([x, a, b, c]);
});

const FOLD_CASES: [string, Record<string, unknown>][] = [
  ['mobilenet', { alpha: 0.25, inputShape: [64, 64, 3] }],
  ['mobilenet_v2', { alpha: 0.35, inputShape: [48, 48, 3] }],
  ['efficientnet_b0', { inputShape: [32, 32, 3] }],
];

for (const [id, options] of FOLD_CASES) {
  test(`zoo: folding ${id} (random weights, non-trivial BN statistics) keeps its inference outputs within 1e-4`, async () => {
    const { getBackbone } = await import('../../src/models/zoo.js');
    const model = getBackbone(id).build({ includeTop: false, pooling: 'avg', ...options });
    let k = 1000;
    for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
      layer.setWeights(
        layer.weights.map((w) => {
          const kind = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
          k += 1;
          if (kind === 'gamma' || kind === 'moving_variance') return randomTensor(w.shape as number[], k, 0.25, 1);
          return randomTensor(w.shape as number[], k, 0.2);
        }),
      );
    }
    const folded = foldBatchNorm(model);
    assert.equal(folded.layers.filter((l) => l.getClassName() === 'BatchNormalization').length, 0, 'every BN follows a conv');
    const [h, w] = (options.inputShape as number[]) ?? [];
    const x = randomTensor([2, h, w, 3], 77);
    const expected = model.predict(x) as tf.Tensor;
    const got = folded.predict(x) as tf.Tensor;
    const diff = maxAbsDiff(expected, got);
    assert.ok(diff < 1e-4, `max |diff| = ${diff}`);
    assert.ok(tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0]) > 0.01);
    tf.dispose([x, expected, got]);
  });
}

test('removeBatchNorm and foldBatchNorm reach into a nested model and keep frozen flags', () => {
  const { model: inner } = denseBnModel('nested');
  const input = tfl.input({ shape: [4], name: 'outer_in' });
  const h = inner.apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, name: 'outer_dense' }).apply(h) as tfl.SymbolicTensor;
  const outer = tfl.model({ inputs: input, outputs: out, name: 'outer' });
  outer.getLayer('outer_dense').trainable = false;
  const removed = removeBatchNorm(outer);
  const nested = removed.layers.find((l) => l instanceof tfl.LayersModel) as tfl.LayersModel;
  assert.deepEqual(nested.layers.map((l) => l.name), ['nested_in', 'nested_dense', 'nested_out']);
  assert.equal(removed.getLayer('outer_dense').trainable, false);
  const folded = foldBatchNorm(outer);
  const foldedNested = folded.layers.find((l) => l instanceof tfl.LayersModel) as tfl.LayersModel;
  assert.deepEqual(foldedNested.layers.map((l) => l.getClassName()), ['InputLayer', 'Dense', 'Dense']);
  const x = randomTensor([3, 4], 31);
  const a = outer.predict(x) as tf.Tensor;
  const b = folded.predict(x) as tf.Tensor;
  assert.ok(maxAbsDiff(a, b) < 1e-5);
  tf.dispose([x, a, b]);
});

test('a frozen scale=false BatchNorm (InceptionV3 style) inside a trained graph: fit runs, stats stay, output is the inference map', async () => {
  await initEngine();
  const inp = tfl.input({ shape: [6, 6, 3] });
  const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, useBias: false, name: 'c' }).apply(inp) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization({ scale: false, name: 'bn' });
  const y = bn.apply(conv) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, name: 'd' }).apply(tfl.layers.flatten({ name: 'f' }).apply(y) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: inp, outputs: out });
  bn.setWeights([tf.tensor1d([0.5, -1, 0, 2]), tf.tensor1d([1, 2, 3, 4]), tf.tensor1d([4, 1, 0.25, 9])]);
  bn.trainable = false;
  const before = bn.getWeights().map((w) => Array.from(w.dataSync()));
  model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
  await model.fit(tf.randomNormal([4, 6, 6, 3], 0, 1, 'float32', 1), tf.randomNormal([4, 2], 0, 1, 'float32', 2), { epochs: 2, batchSize: 2 });
  assert.deepEqual(bn.getWeights().map((w) => Array.from(w.dataSync())), before, 'beta and moving statistics unchanged');
  const x = tf.randomNormal([1, 4, 4, 4], 0, 1, 'float32', 3);
  const got = bn.apply(x, { training: true }) as tf.Tensor;
  const [beta, mean, variance] = [0, 1, 2].map((i) => bn.getWeights()[i]);
  const expected = tf.add(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3))), beta);
  assert.ok(tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0] < 1e-5, 'inference mode even when called with training: true');
});
