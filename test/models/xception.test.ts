// Xception as keras.applications.xception builds it: named main path, auto-named residual projections
// and merges, Keras's BatchNorm defaults. Param counts live in zoo.test.ts's table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engines/tfjs/tf.js';
import { getBackbone } from '../../src/models/zoo.js';
import { UsageError } from '../../src/core/errors.js';
import type { BackboneOptions } from '../../src/models/types.js';
import { lessonHeadTotals } from '../helpers/lesson_head.js';

const build = (options: BackboneOptions) => getBackbone('xception').build(options);

test('xception: named main path, auto-named shortcuts in Keras creation order', async () => {
  await initEngine();
  const model = build({ includeTop: false, inputShape: [71, 71, 3] });
  try {
    assert.equal(model.name, 'xception');
    assert.equal(model.layers.length, 132); // Keras: len(Xception(include_top=False).layers)
    const autoNamed = model.layers.map((l) => l.name).filter((n) => !n.startsWith('block'));
    const adds = Array.from({ length: 12 }, (_, i) => (i === 0 ? 'add' : `add_${i}`));
    assert.deepEqual(autoNamed.filter((n) => !n.startsWith('add')), [
      'input_layer', 'conv2d', 'batch_normalization', 'conv2d_1', 'batch_normalization_1', 'conv2d_2', 'batch_normalization_2', 'conv2d_3', 'batch_normalization_3',
    ]);
    assert.deepEqual(autoNamed.filter((n) => n.startsWith('add')), adds);
    // Projections: entry blocks 2-4 (128, 256, 728) and the exit block (1024).
    assert.deepEqual(['conv2d', 'conv2d_1', 'conv2d_2', 'conv2d_3'].map((n) => model.getLayer(n).getWeights()[0].shape), [[1, 1, 64, 128], [1, 1, 128, 256], [1, 1, 256, 728], [1, 1, 728, 1024]]);
    // Block 2 has no sepconv1 activation in Keras (the stem's ReLU precedes it).
    assert.throws(() => model.getLayer('block2_sepconv1_act'));
    assert.ok(model.getLayer('block2_sepconv2_act'));
    assert.ok(model.getLayer('block12_sepconv3_bn'));
  } finally {
    model.dispose();
  }
});

test("xception: Keras's BatchNorm defaults, valid stem convs, bias-free separable convs", async () => {
  await initEngine();
  const model = build({ includeTop: false, inputShape: [71, 71, 3] });
  try {
    for (const name of ['block1_conv1_bn', 'batch_normalization_3', 'block14_sepconv2_bn']) {
      const bn = model.getLayer(name).getConfig();
      assert.deepEqual([bn.epsilon, bn.momentum, bn.scale, bn.center], [1e-3, 0.99, true, true], name);
    }
    const conv1 = model.getLayer('block1_conv1').getConfig();
    assert.deepEqual([conv1.strides, conv1.padding, conv1.useBias], [[2, 2], 'valid', false]);
    assert.equal(model.getLayer('block1_conv2').getConfig().padding, 'valid');
    const sep = model.getLayer('block5_sepconv1');
    assert.deepEqual([sep.getConfig().padding, sep.getConfig().useBias], ['same', false]);
    // depth multiplier 1, no bias: a 3x3 depthwise kernel and a 1x1 pointwise kernel only.
    assert.deepEqual(sep.getWeights().map((w) => w.shape), [[3, 3, 728, 1], [1, 1, 728, 728]]);
    const pool = model.getLayer('block13_pool').getConfig();
    assert.deepEqual([pool.poolSize, pool.strides, pool.padding], [[3, 3], [2, 2], 'same']);
  } finally {
    model.dispose();
  }
});

test('xception: input below 71x71 names the minimum', () => {
  assert.throws(
    () => build({ includeTop: false, inputShape: [299, 70, 3] }),
    (e: unknown) => e instanceof UsageError && e.argument === 'inputShape' && /at least 71x71.*Received: inputShape=\[299, 70, 3\]/.test(e.message),
  );
  assert.throws(() => build({ weights: 'imagenet', classes: 2 }), /must be 1000/);
});

test('xception: with the lesson\'s head (Flatten -> Dense(16, relu) -> Dropout -> Dense(2)) at 224, Keras\'s totals', async () => {
  await initEngine();
  const model = build({ includeTop: false, inputShape: [224, 224, 3] });
  try {
    assert.deepEqual(lessonHeadTotals(model), [22_467_162, 22_412_634]);
  } finally {
    model.dispose();
  }
});
