// ResNet50 as keras.applications.resnet builds it: the settings a parameter count cannot see
// (BatchNorm epsilon, padding, biases) and Keras's checks. Param counts live in zoo.test.ts's table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../../src/engines/tfjs/tf.js';
import { getBackbone } from '../../src/models/zoo.js';
import { UsageError } from '../../src/core/errors.js';
import type { BackboneOptions } from '../../src/models/types.js';
import { lessonHeadTotals } from '../helpers/lesson_head.js';

const build = (options: BackboneOptions) => getBackbone('resnet50').build(options);

test('resnet50: Keras model name, BatchNorm epsilon 1.001e-5, ZeroPadding2D stem, biased convs', async () => {
  await initEngine();
  const model = build({ includeTop: false, inputShape: [64, 64, 3] });
  try {
    assert.equal(model.name, 'resnet50');
    assert.equal(model.layers[0].name, 'input_layer');
    for (const name of ['conv1_bn', 'conv2_block1_0_bn', 'conv5_block3_3_bn']) {
      const bn = model.getLayer(name).getConfig();
      assert.equal(bn.epsilon, 1.001e-5, name);
      assert.equal(bn.momentum, 0.99, name);
    }
    assert.deepEqual(model.getLayer('conv1_pad').getConfig().padding, [[3, 3], [3, 3]]);
    assert.deepEqual(model.getLayer('pool1_pad').getConfig().padding, [[1, 1], [1, 1]]);
    const conv1 = model.getLayer('conv1_conv').getConfig();
    assert.deepEqual([conv1.kernelSize, conv1.strides, conv1.padding, conv1.useBias], [[7, 7], [2, 2], 'valid', true]);
    const pool = model.getLayer('pool1_pool').getConfig();
    assert.deepEqual([pool.poolSize, pool.strides, pool.padding], [[3, 3], [2, 2], 'valid']);
    // The first block of conv3..conv5 strides in its 1x1 convs (v1), not in the 3x3.
    assert.deepEqual(model.getLayer('conv3_block1_1_conv').getConfig().strides, [2, 2]);
    assert.deepEqual(model.getLayer('conv3_block1_0_conv').getConfig().strides, [2, 2]);
    assert.equal(model.getLayer('conv3_block1_2_conv').getConfig().padding, 'same');
    // conv2 does not stride: 56x56 stays 56x56 at 224, here 16x16.
    assert.deepEqual(model.getLayer('conv2_block3_out').outputShape, [null, 16, 16, 256]);
    // Identity blocks have no projection.
    assert.throws(() => model.getLayer('conv2_block2_0_conv'));
  } finally {
    model.dispose();
  }
});

test('resnet50: Keras checks name the argument and what is accepted', () => {
  const expectUsage = (options: BackboneOptions, argument: string, pattern: RegExp) =>
    assert.throws(() => build(options).dispose(), (e: unknown) => e instanceof UsageError && e.argument === argument && pattern.test(e.message));
  expectUsage({ includeTop: false, inputShape: [31, 64, 3] }, 'inputShape', /at least 32x32.*Received: inputShape=\[31, 64, 3\]/);
  expectUsage({ weights: 'imagenet', inputShape: [200, 200, 3] }, 'inputShape', /must be \[224, 224, 3\]/);
  expectUsage({ weights: 'imagenet', includeTop: false, inputShape: [224, 224, 1] }, 'inputShape', /3 input channels/);
  expectUsage({ weights: 'imagenet', classes: 10 }, 'classes', /must be 1000.*Received: classes=10/);
  expectUsage({ classes: 0 }, 'classes', /positive integer/);
  expectUsage({ weights: 'imagenet', classifierActivation: 'sigmoid' }, 'classifierActivation', /null and 'softmax'/);
  expectUsage({ includeTop: false, pooling: 'sum' as never }, 'pooling', /'avg', 'max' or null/);
  expectUsage({ includeTop: 'false' as never }, 'includeTop', /true or false/);
  // Keras's ResNet50 has no width multiplier: an alpha is an error, not silently ignored.
  expectUsage({ includeTop: false, alpha: 0.5 }, 'alpha', /no `alpha` option.*Received: alpha=0.5/);
});

test('resnet50: an unknown classifier activation fails before any weight is made', async () => {
  await initEngine();
  const before = tf.memory().numTensors;
  assert.throws(() => build({ classifierActivation: 'sofmax' }), (e: unknown) => e instanceof UsageError && /expected null or one of .*softmax/.test(e.message) && /Received: classifierActivation="sofmax"/.test(e.message));
  assert.equal(tf.memory().numTensors, before);
});

test('resnet50: with the lesson\'s head (Flatten -> Dense(16, relu) -> Dropout -> Dense(2)) at 224, Keras\'s totals', async () => {
  await initEngine();
  const model = build({ includeTop: false, inputShape: [224, 224, 3] });
  try {
    assert.deepEqual(lessonHeadTotals(model), [25_193_394, 25_140_274]);
  } finally {
    model.dispose();
  }
});
