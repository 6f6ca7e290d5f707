// BatchNorm recalibration: stale moving statistics become exactly the average batch statistics (against
// a direct computation), frozen BN layers are left alone, and after training from random weights it
// lifts held-out accuracy.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, tfl, initEngine } from '../../../src/engines/tfjs/tf.js';
import { TensorIterator } from '../../helpers/tensor_iterator.js';
import { batchNormLayers, generalizationWarning, recalibrateBatchNorm } from '../../../src/train/recalibration/recalibrate_batchnorm.js';
import { trainRun } from '../../../src/train/run/run.js';
import { squaresDataset } from '../helpers.js';

before(async () => {
  await initEngine();
});

/** conv -> BN -> relu -> conv -> BN -> GAP -> dropout -> dense, with stale (initial) moving statistics. */
function twoBatchNormNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 6, 3] });
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  let h = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(1), name: 'c1' }).apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.batchNormalization({ name: 'bn1', gammaInitializer: tfl.initializers.constant({ value: 1.5 }), betaInitializer: tfl.initializers.constant({ value: 0.2 }) }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.activation({ activation: 'relu' }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', kernelInitializer: init(2), name: 'c2' }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.batchNormalization({ name: 'bn2' }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.dropout({ rate: 0.5 }).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: init(3) }).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

function weightOf(model: tfl.LayersModel, layer: string, suffix: string): Float32Array {
  return model.getLayer(layer).weights.find((w) => w.originalName.endsWith(suffix))!.read().dataSync() as Float32Array;
}

for (const engine of ['onnx', 'tfjs'] as const) test(`recalibrateBatchNorm (${engine}) sets moving mean/variance to the average batch statistics of one pass, each layer normalising with its batch statistics`, async () => {
  const model = twoBatchNormNet();
  const n = 12;
  const batchSize = 4;
  const x = tf.randomUniform([n, 6, 6, 3], 0, 3, 'float32', 5) as tf.Tensor4D;
  const y = tf.zeros([n]);
  // Direct computation, batch by batch in the iterator's order (no shuffling).
  const expected = { bn1: { mean: new Float64Array(4), variance: new Float64Array(4) }, bn2: { mean: new Float64Array(5), variance: new Float64Array(5) } };
  const layer = (name: string) => model.getLayer(name);
  const batches = n / batchSize;
  for (let b = 0; b < batches; b++) {
    tf.tidy(() => {
      const xb = tf.slice(x, [b * batchSize], [batchSize]);
      const h1 = layer('c1').apply(xb) as tf.Tensor;
      const m1 = tf.moments(h1, [0, 1, 2]);
      const n1 = tf.batchNorm(h1, m1.mean, m1.variance, tf.fill([4], 0.2), tf.fill([4], 1.5), 1e-3);
      const h2 = layer('c2').apply(tf.relu(n1)) as tf.Tensor;
      const m2 = tf.moments(h2, [0, 1, 2]);
      for (const [key, m] of [['bn1', m1], ['bn2', m2]] as const) {
        const mean = m.mean.dataSync();
        const variance = m.variance.dataSync();
        mean.forEach((v, c) => (expected[key].mean[c] += v / batches));
        variance.forEach((v, c) => (expected[key].variance[c] += v / batches));
      }
    });
  }
  const before = tf.memory().numTensors;
  const result = await recalibrateBatchNorm(model, new TensorIterator(x, y, { batchSize, shuffle: false }), { engine });
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  assert.deepEqual({ layers: result.layers, batches: result.batches, samples: result.samples, engine: result.engine }, { layers: 2, batches: 3, samples: 12, engine });
  for (const key of ['bn1', 'bn2'] as const) {
    const mean = weightOf(model, key, 'moving_mean');
    const variance = weightOf(model, key, 'moving_variance');
    expected[key].mean.forEach((v, c) => assert.ok(Math.abs(mean[c] - v) < 1e-5 * Math.max(1, Math.abs(v)), `${key} mean ${c}: ${mean[c]} vs ${v}`));
    expected[key].variance.forEach((v, c) => assert.ok(Math.abs(variance[c] - v) < 1e-5 * Math.max(1, v), `${key} variance ${c}: ${variance[c]} vs ${v}`));
    // The initial statistics (0 and 1) were far from these: the test can fail.
    assert.ok(Math.abs(mean[0]) > 0.01 || Math.abs(variance[0] - 1) > 0.01);
  }
  model.dispose();
  tf.dispose([x, y]);
});

test('recalibrateBatchNorm maxSamples: stops after the batch that reaches it, averaging only the batches read', async () => {
  const x = tf.randomUniform([16, 6, 6, 3], 0, 3, 'float32', 8) as tf.Tensor4D;
  const y = tf.zeros([16]);
  const bounded = twoBatchNormNet();
  const firstTwo = twoBatchNormNet();
  const result = await recalibrateBatchNorm(bounded, new TensorIterator(x, y, { batchSize: 4, shuffle: false }), { maxSamples: 5 });
  assert.deepEqual([result.batches, result.samples], [2, 8]);
  const x8 = tf.slice(x, 0, 8);
  const y8 = tf.slice(y, 0, 8);
  await recalibrateBatchNorm(firstTwo, new TensorIterator(x8, y8, { batchSize: 4, shuffle: false }));
  assert.deepEqual(Array.from(weightOf(bounded, 'bn2', 'moving_variance')), Array.from(weightOf(firstTwo, 'bn2', 'moving_variance')));
  await assert.rejects(recalibrateBatchNorm(bounded, new TensorIterator(x, y, { batchSize: 4 }), { maxSamples: 0 }), /maxSamples/);
  bounded.dispose();
  firstTwo.dispose();
  tf.dispose([x, y, x8, y8]);
});

test('recalibrateBatchNorm leaves frozen BatchNorm layers (inference mode in training) untouched', async () => {
  const model = twoBatchNormNet();
  model.getLayer('bn1').trainable = false;
  const x = tf.randomUniform([8, 6, 6, 3], 0, 3, 'float32', 6) as tf.Tensor4D;
  const y = tf.zeros([8]);
  const result = await recalibrateBatchNorm(model, new TensorIterator(x, y, { batchSize: 4, shuffle: false }));
  assert.equal(result.layers, 1);
  assert.deepEqual(Array.from(weightOf(model, 'bn1', 'moving_mean')), [0, 0, 0, 0]);
  assert.notDeepEqual(Array.from(weightOf(model, 'bn2', 'moving_mean')), [0, 0, 0, 0, 0]);
  assert.equal(batchNormLayers(model).length, 2);
  model.dispose();
  tf.dispose([x, y]);
});

test('trainRun from random weights: recalibrated BatchNorm lifts held-out accuracy; without it a warning says why', async () => {
  const data = squaresDataset(48, 41, 32);
  const val = squaresDataset(32, 42, 32);
  const run = async (recalibrateBatchNorm: boolean) => {
    const logs: string[] = [];
    const result = await trainRun(
      {
        train: new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1 }),
        validation: new TensorIterator(val.x, val.y, { batchSize: 8, shuffle: false }),
        backbone: 'mobilenet', alpha: 0.25, weights: 'none', classMode: 'sparse', head: 'gap', epochs: 3, learningRate: 0.01,
        outDir: await fs.mkdtemp(join(tmpdir(), 'tlkit-recal-')), seed: 9, engine: 'tfjs', recalibrateBatchNorm,
      },
      { onLog: (m) => logs.push(m) },
    );
    return { result, logs };
  };
  const stale = await run(false);
  const fresh = await run(true);
  assert.ok(fresh.logs.some((l) => /^BatchNorm: recalibrated the moving statistics of \d+ layers/.test(l)), fresh.logs.join('\n'));
  assert.equal(fresh.result.batchNormRecalibration.length, 1);
  assert.ok(stale.logs.some((l) => /recalibration skipped/.test(l)));
  const before = stale.result.evaluation!.accuracy;
  const after = fresh.result.evaluation!.accuracy;
  assert.ok(after >= before + 0.2, `held-out accuracy ${before} -> ${after}`);
  assert.match(stale.result.warning ?? '', /not recalibrated \(--no-recalibrate-bn\)/);
  tf.dispose([data.x, data.y, val.x, val.y]);
});

test('recalibrateBatchNorm on onnxruntime (the default where the model compiles) agrees with tfjs: mobilenet_v2, a last partial batch, a frozen layer', async () => {
  const { buildClassifier } = await import('../../../src/models/classifier.js');
  const make = () => {
    const c = buildClassifier({ backbone: 'mobilenet_v2', backboneOptions: { inputShape: [48, 48, 3], alpha: 0.35, weights: null }, classes: 2, classMode: 'sparse', head: 'gap' });
    // Frozen BatchNorm stays in inference mode and out of the pass, on both engines.
    c.model.getLayer('bn_Conv1').trainable = false;
    return c.model;
  };
  const onnxModel = make();
  const tfjsModel = make();
  tfjsModel.setWeights(onnxModel.getWeights());
  const x = tf.randomUniform([10, 48, 48, 3], -1, 1, 'float32', 11) as tf.Tensor4D;
  const y = tf.zeros([10]);
  const viaOnnx = await recalibrateBatchNorm(onnxModel, new TensorIterator(x, y, { batchSize: 4, shuffle: false }));
  const viaTfjs = await recalibrateBatchNorm(tfjsModel, new TensorIterator(x, y, { batchSize: 4, shuffle: false }), { engine: 'tfjs' });
  assert.equal(viaOnnx.engine, 'onnx', viaOnnx.fallbackReason);
  assert.deepEqual([viaOnnx.layers, viaOnnx.batches, viaOnnx.samples], [viaTfjs.layers, 3, 10]);
  assert.equal(viaOnnx.layers, batchNormLayers(onnxModel).length - 1);
  const a = onnxModel.getWeights().map((w) => w.dataSync());
  const b = tfjsModel.getWeights().map((w) => w.dataSync());
  let worst = 0;
  let moved = 0;
  const names = onnxModel.weights.map((w) => w.name);
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i].length; j++) worst = Math.max(worst, Math.abs(a[i][j] - b[i][j]) / Math.max(1, Math.abs(b[i][j])));
    if (/moving_variance/.test(names[i]) && Array.from(a[i]).some((v) => Math.abs(v - 1) > 1e-3)) moved++;
  }
  assert.ok(worst < 1e-4, `largest relative difference ${worst}`);
  assert.ok(moved >= viaOnnx.layers - 1, `moving variances recalibrated: ${moved}`);
  onnxModel.dispose();
  tfjsModel.dispose();
  tf.dispose([x, y]);
});

test('recalibrateBatchNorm falls back to tfjs, saying why, when the model does not compile to ONNX; engine onnx then fails', async () => {
  const input = tfl.input({ shape: [6, 6, 3] });
  let h = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.batchNormalization({ name: 'bn' }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.leakyReLU({}).apply(h) as tfl.SymbolicTensor; // no ONNX training rule
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(h) as tfl.SymbolicTensor });
  const x = tf.randomUniform([4, 6, 6, 3], 0, 3, 'float32', 3) as tf.Tensor4D;
  const y = tf.zeros([4]);
  const result = await recalibrateBatchNorm(model, new TensorIterator(x, y, { batchSize: 4, shuffle: false }));
  assert.equal(result.engine, 'tfjs');
  assert.match(result.fallbackReason ?? '', /LeakyReLU/);
  assert.notDeepEqual(Array.from(weightOf(model, 'bn', 'moving_mean')), [0, 0, 0, 0]);
  await assert.rejects(recalibrateBatchNorm(model, new TensorIterator(x, y, { batchSize: 4, shuffle: false }), { engine: 'onnx' }), /onnxruntime.*LeakyReLU/);
  model.dispose();
  tf.dispose([x, y]);
});

test('generalizationWarning: silent for a small gap, names the cause otherwise', () => {
  assert.equal(generalizationWarning(0.9, 0.85, 'not-trained'), undefined);
  assert.match(generalizationWarning(0.92, 0.63, 'recalibrated')!, /not the cause.*overfits/);
});
