// The fast engine, stage 1: splitAtLayer, frozen features on onnxruntime vs tfjs, the head that shares
// weights with the model, the whole-model predictor, and several boundaries from one forward pass.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, tfl } from '../../../src/engines/tfjs/tf.js';
import { splitAtLayer } from '../../../src/engines/onnx/split_at_layer.js';
import { createFrozenEngine } from '../../../src/engines/onnx/frozen_features.js';
import { createOnnxPredictor } from '../../../src/engines/onnx/predictor.js';
import { frozenPrefixEnd } from '../../../src/engines/onnx/frozen_prefix.js';
import { TlkitError, UsageError } from '../../../src/core/errors.js';
// Keras semantics for frozen BatchNormalization (inference mode while training), as tlkit's models use.
import '../../../src/models/batchnorm.js';
import { assertClose, randomInput, randomizeWeights } from './parity.js';

type ST = tfl.SymbolicTensor;
const L = tfl.layers;
const apply = (layer: tfl.layers.Layer, x: ST | ST[]): ST => layer.apply(x) as ST;

before(async () => {
  await initEngine();
});

/** A small residual convnet + the reference experiment's head (Flatten, Dense relu, Dropout, Dense softmax). */
function residualClassifier(dropout = 0.25): tfl.LayersModel {
  const input = tfl.input({ shape: [13, 10, 3], name: 'image' });
  let x = apply(L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'stem' }), input);
  x = apply(L.batchNormalization({ name: 'stem_bn' }), x);
  const stemOut = apply(L.reLU({ maxValue: 6, name: 'stem_relu' }), x);
  let y = apply(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'block_dw' }), stemOut);
  y = apply(L.batchNormalization({ name: 'block_dw_bn' }), y);
  y = apply(L.conv2d({ filters: 8, kernelSize: 1, name: 'block_project' }), y);
  const blockOut = apply(L.add({ name: 'block_add' }), [stemOut, y]);
  let h = apply(L.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'top_conv' }), blockOut);
  h = apply(L.flatten({ name: 'flatten' }), h);
  h = apply(L.dense({ units: 16, activation: 'relu', name: 'dense' }), h);
  h = apply(L.dropout({ rate: dropout, name: 'dropout' }), h);
  h = apply(L.dense({ units: 2, activation: 'softmax', name: 'predictions' }), h);
  const model = tfl.model({ inputs: input, outputs: h, name: 'tiny' });
  randomizeWeights(model, 21);
  return model;
}

describe('splitAtLayer', () => {
  test('prefix and rest compose to the model; the rest shares weights with it', () => {
    const model = residualClassifier();
    const { prefix, rest, boundaryShape } = splitAtLayer(model, 'block_add');
    assert.deepEqual(boundaryShape, [null, 7, 5, 8]);
    assert.deepEqual(rest.layers.map((l) => l.name), ['block_add_features', 'top_conv', 'flatten', 'dense', 'dropout', 'predictions']);
    assert.equal(rest.getLayer('dense'), model.getLayer('dense'));
    const x = randomInput([3, 13, 10, 3], 2);
    const composed = rest.predict(prefix.predict(x) as tf.Tensor) as tf.Tensor;
    assertClose(composed, model.predict(x) as tf.Tensor, 'prefix+rest');
    // Training the rest trains the model: a weight change through one shows in the other.
    const [kernel, bias] = rest.getLayer('predictions').getWeights();
    const doubled = tf.mul(kernel, 2);
    model.getLayer('predictions').setWeights([tf.clone(doubled), bias]);
    assertClose(rest.getLayer('predictions').getWeights()[0], doubled, 'shared kernel');
  });

  test('a cut inside a residual block (bypassed by the skip connection) is refused, naming the layer', () => {
    const model = residualClassifier();
    assert.throws(() => splitAtLayer(model, 'block_dw_bn'), (e: Error) => e instanceof TlkitError && /'block_dw_bn'.*bypasses/.test(e.message));
  });

  test('unknown layers and the output layer are refused', () => {
    const model = residualClassifier();
    assert.throws(() => splitAtLayer(model, 'nope'), (e: Error) => e instanceof UsageError && /frozenUpTo="nope"/.test(e.message));
    assert.throws(() => splitAtLayer(model, 'predictions'), /nothing would be left to train/);
  });

  test('a nested backbone can be cut at its output (by its name or its last layer)', () => {
    const inner = tfl.input({ shape: [9, 7, 3] });
    const b = apply(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'b_conv' }), inner);
    const backbone = tfl.model({ inputs: inner, outputs: apply(L.reLU({ name: 'b_relu' }), b), name: 'backbone' });
    const input = tfl.input({ shape: [9, 7, 3] });
    const out = apply(L.dense({ units: 2, name: 'head' }), apply(L.globalAveragePooling2d({ name: 'gap' }), apply(backbone, input)));
    const model = tfl.model({ inputs: input, outputs: out });
    randomizeWeights(model, 4);
    for (const name of ['backbone', 'b_relu']) {
      const { prefix, rest } = splitAtLayer(model, name);
      const x = randomInput([2, 9, 7, 3], 3);
      assertClose(rest.predict(prefix.predict(x) as tf.Tensor) as tf.Tensor, model.predict(x) as tf.Tensor, name);
    }
    assert.throws(() => splitAtLayer(model, 'b_conv'), /inside the nested model 'backbone'/);
  });
});

function freeze(model: tfl.LayersModel, names: string[]): void {
  for (const name of names) model.getLayer(name).trainable = false;
}

describe('frozenPrefixEnd', () => {
  test('extends over frozen and weightless layers, stops at Dropout and at trainable layers, never ends on a Flatten', () => {
    const model = residualClassifier();
    assert.equal(frozenPrefixEnd(model), undefined);
    freeze(model, ['stem', 'stem_bn', 'block_dw', 'block_dw_bn', 'block_project', 'top_conv']);
    // The Flatten after top_conv is weightless, but its output is the map's values reordered: the cut
    // stays on the map (the probe and the audit read that same map: one store, not two copies).
    assert.equal(frozenPrefixEnd(model), 'top_conv');
    freeze(model, ['dense']);
    assert.equal(frozenPrefixEnd(model), 'dense');
  });

  test('createFrozenEngine cuts there by default, and says so when nothing is frozen', async () => {
    const model = residualClassifier();
    await assert.rejects(createFrozenEngine(model), (e: Error) => e instanceof UsageError && /no frozen prefix/.test(e.message));
    freeze(model, ['stem', 'stem_bn', 'block_dw', 'block_dw_bn', 'block_project']);
    const engine = await createFrozenEngine(model);
    assert.equal(engine.boundaryLayerName, 'block_add');
    await engine.dispose();
  });

  test('backs off to a single-tensor cut when the frozen part ends inside a residual block', () => {
    const model = residualClassifier();
    freeze(model, ['stem', 'stem_bn', 'block_dw', 'block_dw_bn']);
    assert.equal(frozenPrefixEnd(model), 'stem_relu');
  });
});

describe('createFrozenEngine', () => {
  test('alsoOutput: one forward pass returns the boundary and an earlier cut, each with the fingerprint its own engine has', async () => {
    const model = residualClassifier();
    freeze(model, ['stem', 'stem_bn', 'block_dw', 'block_dw_bn', 'block_project', 'top_conv']);
    const both = await createFrozenEngine(model, { frozenUpTo: 'flatten', alsoOutput: ['block_add', 'dense', 'nope'], cacheDir: false });
    const early = await createFrozenEngine(model, { frozenUpTo: 'block_add', cacheDir: false });
    try {
      // A layer after the cut ('dense') or unknown is left out: that phase computes its own.
      assert.deepEqual(both.boundaries.map((b) => [b.layerName, b.shape]), [['flatten', [72]], ['block_add', [7, 5, 8]]]);
      assert.equal(both.boundaries[1].fingerprint, early.boundaries[0].fingerprint);
      assert.notEqual(both.boundaries[0].fingerprint, both.boundaries[1].fingerprint);
      const x = randomInput([3, 13, 10, 3], 4);
      const [flat, block] = await both.outputsOf(x);
      assert.deepEqual(flat.shape, [3, 72]);
      assertClose(tf.tensor(flat.data, flat.shape), both.prefix.predict(x) as tf.Tensor, 'boundary');
      assertClose(tf.tensor(block.data, block.shape), await early.features(x), 'earlier cut');
    } finally {
      await both.dispose();
      await early.dispose();
    }
  });

  test('onnxruntime features equal tfjs prefix features within 1e-4; head(features) equals the model', async () => {
    const model = residualClassifier();
    const engine = await createFrozenEngine(model, { frozenUpTo: 'block_add' });
    try {
      assert.deepEqual(engine.featureShape, [null, 7, 5, 8]);
      assert.match(engine.fingerprint, /^[0-9a-f]{64}$/);
      const x = randomInput([4, 13, 10, 3], 8);
      const features = await engine.features(x);
      assertClose(features, engine.prefix.predict(x) as tf.Tensor, 'features');
      assertClose(engine.head.predict(features) as tf.Tensor, model.predict(x) as tf.Tensor, 'head');
      const raw = await engine.featuresOf(x.dataSync() as Float32Array, x.shape);
      assert.deepEqual(raw.shape, [4, 7, 5, 8]);
      assert.deepEqual(Array.from(raw.data), Array.from(features.dataSync()));
    } finally {
      await engine.dispose();
    }
  });

  test('in a worker thread: same features; the caller keeps its Float32Array', async () => {
    const model = residualClassifier();
    const engine = await createFrozenEngine(model, { frozenUpTo: 'block_add', worker: true });
    try {
      const x = randomInput([3, 13, 10, 3], 9);
      assertClose(await engine.features(x), engine.prefix.predict(x) as tf.Tensor, 'worker features');
      const data = Float32Array.from(x.dataSync());
      const raw = await engine.featuresOf(data, x.shape);
      assert.equal(data.length, 3 * 13 * 10 * 3);
      assert.deepEqual(raw.shape, [3, 7, 5, 8]);
      await assert.rejects(engine.featuresOf(data, [3, 13, 10, 2]), (e: Error) => e instanceof UsageError && /shape/.test(e.message));
    } finally {
      await engine.dispose();
    }
  });

  test('training the head on onnxruntime features gives the losses of training the frozen model in tfjs', async () => {
    const prefixLayers = ['stem', 'stem_bn', 'stem_relu', 'block_dw', 'block_dw_bn', 'block_project', 'block_add'];
    const reference = residualClassifier(0);
    for (const name of prefixLayers) reference.getLayer(name).trainable = false;
    reference.compile({ optimizer: tf.train.sgd(0.1), loss: 'sparseCategoricalCrossentropy' });
    const fast = residualClassifier(0);
    const engine = await createFrozenEngine(fast, { frozenUpTo: 'block_add' });
    engine.head.compile({ optimizer: tf.train.sgd(0.1), loss: 'sparseCategoricalCrossentropy' });
    try {
      for (let step = 0; step < 3; step++) {
        const x = randomInput([4, 13, 10, 3], 100 + step);
        const y = tf.tensor1d([0, 1, 1, 0]);
        const expected = (await reference.trainOnBatch(x, y)) as number;
        const features = await engine.features(x);
        const actual = (await engine.head.trainOnBatch(features, y)) as number;
        assert.ok(Math.abs(actual - expected) < 1e-4, `step ${step}: loss ${actual} (onnx features) vs ${expected} (tfjs)`);
      }
      // The frozen part did not move: its features are still the tfjs prefix's.
      const x = randomInput([2, 13, 10, 3], 1);
      assertClose(await engine.features(x), engine.prefix.predict(x) as tf.Tensor, 'after training');
    } finally {
      await engine.dispose();
    }
  });

  test('the fingerprint follows the frozen weights', async () => {
    const model = residualClassifier();
    const a = await createFrozenEngine(model, { frozenUpTo: 'block_add' });
    const again = await createFrozenEngine(model, { frozenUpTo: 'block_add' });
    model.getLayer('stem').setWeights(model.getLayer('stem').getWeights().map((w) => tf.add(w, 0.01)));
    const changed = await createFrozenEngine(model, { frozenUpTo: 'block_add' });
    assert.equal(a.fingerprint, again.fingerprint);
    assert.notEqual(a.fingerprint, changed.fingerprint);
    await Promise.all([a.dispose(), again.dispose(), changed.dispose()]);
  });
});

describe('createOnnxPredictor', () => {
  test('whole-model predictions equal tfjs within 1e-4, also when cut into chunks', async () => {
    const model = residualClassifier();
    const predictor = await createOnnxPredictor(model, { batchSize: 2 });
    const x = randomInput([5, 13, 10, 3], 6);
    const y = await predictor.predict(x);
    assert.deepEqual(y.shape, [5, 2]);
    assertClose(y, model.predict(x) as tf.Tensor, 'predict');
    await predictor.dispose();
  });
});
