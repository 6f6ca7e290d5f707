// InceptionV3 as keras.applications.inception_v3 builds it. Keras leaves its convolutions auto-named, and
// legacy .h5 weights are matched by order, so the test pins which layer each auto-name belongs to:
// kernel shapes read off Keras's source by hand (conv2d_bn calls counted in order). Param counts live in
// zoo.test.ts's table.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engines/tfjs/tf.js';
import { getBackbone } from '../../src/models/zoo.js';
import { UsageError } from '../../src/core/errors.js';
import type { BackboneOptions } from '../../src/models/types.js';
import { lessonHeadTotals } from '../helpers/lesson_head.js';

const build = (options: BackboneOptions) => getBackbone('inception_v3').build(options);

// [auto-name, kernel shape] in Keras's creation order: 5 stem convs (0-4), mixed0-2 seven each (5-25),
// mixed3 four (26-29), mixed4-7 ten each (30-69), mixed8 six (70-75), mixed9/10 nine each (76-93).
const CONV_KERNELS: [string, number[]][] = [
  ['conv2d', [3, 3, 3, 32]],
  ['conv2d_4', [3, 3, 80, 192]],
  ['conv2d_5', [1, 1, 192, 64]], // mixed0 branch1x1
  ['conv2d_7', [5, 5, 48, 64]], // mixed0 branch5x5
  ['conv2d_11', [1, 1, 192, 32]], // mixed0 pool branch
  ['conv2d_18', [1, 1, 256, 64]], // mixed1 pool branch
  ['conv2d_26', [3, 3, 288, 384]], // mixed3 branch3x3, stride 2
  ['conv2d_31', [1, 1, 768, 128]], // mixed4 branch7x7
  ['conv2d_32', [1, 7, 128, 128]],
  ['conv2d_42', [1, 7, 160, 160]], // mixed5
  ['conv2d_69', [1, 1, 768, 192]], // mixed7 pool branch
  ['conv2d_71', [3, 3, 192, 320]], // mixed8
  ['conv2d_77', [1, 1, 1280, 384]], // mixed9 branch3x3
  ['conv2d_78', [1, 3, 384, 384]],
  ['conv2d_79', [3, 1, 384, 384]],
  ['conv2d_80', [1, 1, 1280, 448]],
  ['conv2d_85', [1, 1, 2048, 320]], // mixed10 branch1x1
  ['conv2d_93', [1, 1, 2048, 192]], // mixed10 pool branch, the last conv
];

test('inception_v3: Keras auto-names in Keras creation order', async () => {
  await initEngine();
  const model = build({ includeTop: false, inputShape: [75, 75, 3] });
  try {
    assert.equal(model.name, 'inception_v3');
    assert.equal(model.layers.length, 311); // Keras: len(InceptionV3(include_top=False).layers)
    assert.deepEqual(model.layers.slice(0, 7).map((l) => l.name), ['input_layer', 'conv2d', 'batch_normalization', 'activation', 'conv2d_1', 'batch_normalization_1', 'activation_1']);
    assert.deepEqual(model.layers.slice(-4).map((l) => l.name), ['mixed9_1', 'concatenate_1', 'activation_93', 'mixed10']);
    for (const [name, shape] of CONV_KERNELS) {
      assert.deepEqual(model.getLayer(name).getWeights()[0].shape, shape, name);
    }
    assert.throws(() => model.getLayer('conv2d_94'));
    const names = new Set(model.layers.map((l) => l.name));
    for (const name of ['max_pooling2d_3', 'average_pooling2d_8', 'batch_normalization_93', 'activation_93', 'mixed0', 'mixed9', 'mixed9_0', 'concatenate']) {
      assert.ok(names.has(name), name);
    }
    for (const name of ['max_pooling2d_4', 'average_pooling2d_9', 'concatenate_2']) assert.ok(!names.has(name), name);
  } finally {
    model.dispose();
  }
});

test('inception_v3: bias-free convs, BatchNorm without scale (epsilon 1e-3), Keras padding', async () => {
  await initEngine();
  const model = build({ includeTop: false, inputShape: [75, 75, 3] });
  try {
    const bn = model.getLayer('batch_normalization_50');
    const config = bn.getConfig();
    assert.deepEqual([config.scale, config.center, config.epsilon, config.momentum], [false, true, 1e-3, 0.99]);
    // beta (trainable); moving mean and variance (non-trainable); no gamma.
    assert.deepEqual(bn.weights.map((w) => w.originalName.split('/').pop()), ['beta', 'moving_mean', 'moving_variance']);
    const conv = model.getLayer('conv2d').getConfig();
    assert.deepEqual([conv.strides, conv.padding, conv.useBias], [[2, 2], 'valid', false]);
    assert.equal(model.getLayer('conv2d_2').getConfig().padding, 'same');
    const avg = model.getLayer('average_pooling2d').getConfig();
    assert.deepEqual([avg.poolSize, avg.strides, avg.padding], [[3, 3], [1, 1], 'same']);
  } finally {
    model.dispose();
  }
});

test('inception_v3: the pooling layers of a no-top model are auto-named, the top is named', async () => {
  await initEngine();
  const avg = build({ includeTop: false, pooling: 'avg', inputShape: [75, 75, 3] });
  const max = build({ includeTop: false, pooling: 'max', inputShape: [75, 75, 3] });
  const top = build({ classes: 3, inputShape: [75, 75, 3] });
  try {
    assert.equal(avg.layers.at(-1)!.name, 'global_average_pooling2d');
    assert.equal(max.layers.at(-1)!.name, 'global_max_pooling2d');
    assert.deepEqual(top.layers.slice(-2).map((l) => l.name), ['avg_pool', 'predictions']);
    assert.equal(top.getLayer('predictions').getConfig().activation, 'softmax');
  } finally {
    avg.dispose();
    max.dispose();
    top.dispose();
  }
});

test('inception_v3: input below 75x75 names the minimum', () => {
  assert.throws(
    () => build({ includeTop: false, inputShape: [74, 299, 3] }),
    (e: unknown) => e instanceof UsageError && e.argument === 'inputShape' && /at least 75x75.*Received: inputShape=\[74, 299, 3\]/.test(e.message),
  );
  assert.throws(() => build({ weights: 'imagenet', inputShape: [224, 224, 3] }), /must be \[299, 299, 3\]/);
});

test('inception_v3: with the lesson\'s head (Flatten -> Dense(16, relu) -> Dropout -> Dense(2)) at 224, Keras\'s totals', async () => {
  await initEngine();
  const model = build({ includeTop: false, inputShape: [224, 224, 3] });
  try {
    assert.deepEqual(lessonHeadTotals(model), [22_622_034, 22_587_602]);
  } finally {
    model.dispose();
  }
});

// nsfwjs bundles a Keras 2.2.4 InceptionV3 (fine-tuned, own head) as a tfjs layers model: its topology is
// Keras's own layer list, in Keras's order, with Keras 2.2's auto-names (which start at _1: conv2d_1 is
// Keras 3's conv2d). Only model.min.js (the topology, 180 KB) is read, not the weight shards.
test('inception_v3: same layers, order and conv/BN configs as the Keras 2.2.4 InceptionV3 bundled in nsfwjs', async () => {
  await initEngine();
  const require = createRequire(import.meta.url);
  // The package exports no subpath for it: go from its entry (<pkg>/dist/cjs/index.js) to <pkg>/dist/models.
  const modelsDir = join(dirname(dirname(require.resolve('nsfwjs'))), 'models');
  const bundled = require(join(modelsDir, 'inception_v3', 'model.min.js')) as {
    modelTopology: { keras_version: string; model_config: { config: { layers: { name: string; class_name: string; config: Record<string, unknown> }[] } } };
  };
  assert.equal(bundled.modelTopology.keras_version, '2.2.4');
  const kerasLayers = bundled.modelTopology.model_config.config.layers;
  const renamed = (name: string) =>
    name.replace(/^(input|conv2d|batch_normalization|activation|max_pooling2d|average_pooling2d|concatenate)_(\d+)$/, (_, base: string, n: string) => {
      const keras3Base = base === 'input' ? 'input_layer' : base;
      return n === '1' ? keras3Base : `${keras3Base}_${Number(n) - 1}`;
    });
  const model = build({ includeTop: false });
  try {
    // The bundled model's backbone is Keras's no-top InceptionV3; nsfwjs's own head follows 'mixed10'.
    const backbone = kerasLayers.slice(0, kerasLayers.findIndex((l) => l.name === 'mixed10') + 1);
    assert.deepEqual(model.layers.map((l) => l.name), backbone.map((l) => renamed(l.name)));
    for (const layer of backbone) {
      const config = model.getLayer(renamed(layer.name)).getConfig();
      const k = layer.config;
      if (layer.class_name === 'Conv2D') {
        assert.deepEqual([config.filters, config.kernelSize, config.strides, config.padding, config.useBias], [k.filters, k.kernel_size, k.strides, k.padding, k.use_bias], layer.name);
      } else if (layer.class_name === 'BatchNormalization') {
        assert.deepEqual([config.scale, config.center, config.epsilon, config.momentum], [k.scale, k.center, k.epsilon, k.momentum], layer.name);
      }
    }
  } finally {
    model.dispose();
  }
});
