// One table drives every backbone test (Keras's applications_test.py style). Add a row per variant:
// [id, options, totalParams, trainableParams, nonTrainableParams, outputShape, spot-checked layer names].
// Params are Keras's: published model.summary() figures, or for variants without a published figure the
// output of scripts/reference/keras_applications_params.py (test/fixtures/models/keras_params.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, tfl } from '../../src/engines/tfjs/tf.js';
import { getBackbone, listBackbones } from '../../src/models/zoo.js';
import type { BackboneOptions } from '../../src/models/types.js';
import { UsageError } from '../../src/errors.js';

type Row = [id: string, options: BackboneOptions, totalParams: number, trainableParams: number, nonTrainableParams: number, outputShape: (number | null)[], layerNames: string[]];

const BACKBONES: Row[] = [
  // mobilenet (Keras MobileNet): alpha 1.0 figures are Keras's published ones; other alphas from the calculator.
  ['mobilenet', { includeTop: false }, 3_228_864, 3_206_976, 21_888, [null, 7, 7, 1024], ['conv1', 'conv1_bn', 'conv_pad_2', 'conv_dw_13_relu', 'conv_pw_13_relu']],
  ['mobilenet', {}, 4_253_864, 4_231_976, 21_888, [null, 1000], ['conv_pw_13_relu', 'dropout', 'conv_preds', 'reshape_2', 'predictions']],
  ['mobilenet', { alpha: 0.25, includeTop: false }, 218_544, 213_072, 5_472, [null, 7, 7, 256], ['conv_dw_1', 'conv_pw_1_bn']],
  ['mobilenet', { alpha: 0.5, includeTop: false }, 829_536, 818_592, 10_944, [null, 7, 7, 512], ['conv_pw_13']],
  ['mobilenet', { alpha: 0.75 }, 2_601_976, 2_585_560, 16_416, [null, 1000], ['predictions']],
  ['mobilenet', { depthMultiplier: 2, includeTop: false, pooling: 'avg' }, 6_432_928, 6_401_120, 31_808, [null, 1024], ['global_average_pooling2d']],
  ['mobilenet', { includeTop: false, inputShape: [160, 128, 3], pooling: 'max' }, 3_228_864, 3_206_976, 21_888, [null, 1024], ['global_max_pooling2d']],
  ['mobilenet', { classes: 2, classifierActivation: null }, 3_230_914, 3_209_026, 21_888, [null, 2], ['conv_preds', 'predictions']],
  // resnet50, inception_v3, xception (Keras ResNet50 / InceptionV3 / Xception): Keras's published totals; the
  // classes=2 rows add 2048 x 2 + 2 to the no-top figure. Names: the Keras-named ones, and Keras's auto-names.
  ['resnet50', { includeTop: false }, 23_587_712, 23_534_592, 53_120, [null, 7, 7, 2048], ['conv1_pad', 'conv1_conv', 'conv1_bn', 'pool1_pad', 'pool1_pool', 'conv2_block1_0_conv', 'conv4_block6_out', 'conv5_block3_out']],
  ['resnet50', {}, 25_636_712, 25_583_592, 53_120, [null, 1000], ['conv5_block3_out', 'avg_pool', 'predictions']],
  ['resnet50', { includeTop: false, inputShape: [32, 32, 3], pooling: 'max' }, 23_587_712, 23_534_592, 53_120, [null, 2048], ['max_pool']],
  ['resnet50', { includeTop: false, inputShape: [200, 160, 3], pooling: 'avg' }, 23_587_712, 23_534_592, 53_120, [null, 2048], ['avg_pool']],
  ['resnet50', { classes: 2, classifierActivation: null }, 23_591_810, 23_538_690, 53_120, [null, 2], ['predictions']],
  ['inception_v3', { includeTop: false }, 21_802_784, 21_768_352, 34_432, [null, 8, 8, 2048], ['input_layer', 'conv2d', 'batch_normalization', 'activation', 'max_pooling2d_3', 'average_pooling2d_8', 'mixed0', 'mixed9_0', 'mixed9_1', 'concatenate_1', 'conv2d_93', 'batch_normalization_93', 'activation_93', 'mixed10']],
  ['inception_v3', {}, 23_851_784, 23_817_352, 34_432, [null, 1000], ['mixed10', 'avg_pool', 'predictions']],
  ['inception_v3', { includeTop: false, inputShape: [224, 224, 3] }, 21_802_784, 21_768_352, 34_432, [null, 5, 5, 2048], ['mixed10']],
  ['inception_v3', { includeTop: false, inputShape: [75, 75, 3], pooling: 'avg' }, 21_802_784, 21_768_352, 34_432, [null, 2048], ['global_average_pooling2d']],
  ['inception_v3', { classes: 2, classifierActivation: null }, 21_806_882, 21_772_450, 34_432, [null, 2], ['predictions']],
  ['xception', { includeTop: false }, 20_861_480, 20_806_952, 54_528, [null, 10, 10, 2048], ['block1_conv1', 'block1_conv2_act', 'block2_sepconv2_act', 'conv2d', 'batch_normalization_3', 'add', 'add_11', 'block13_pool', 'block14_sepconv2_act']],
  ['xception', {}, 22_910_480, 22_855_952, 54_528, [null, 1000], ['block14_sepconv2_act', 'avg_pool', 'predictions']],
  ['xception', { includeTop: false, inputShape: [224, 224, 3] }, 20_861_480, 20_806_952, 54_528, [null, 7, 7, 2048], ['block14_sepconv2_act']],
  ['xception', { includeTop: false, inputShape: [71, 71, 3], pooling: 'max' }, 20_861_480, 20_806_952, 54_528, [null, 2048], ['global_max_pooling2d']],
  ['xception', { classes: 2, classifierActivation: null }, 20_865_578, 20_811_050, 54_528, [null, 2], ['predictions']],
];

/** Keras's split of a model's parameters (tfjs LayersModel.countParams gives only the total). */
function paramCounts(model: tfl.LayersModel): { total: number; trainable: number; nonTrainable: number } {
  const size = (w: { shape: number[] }) => w.shape.reduce((a, b) => a * b, 1);
  const trainable = model.trainableWeights.reduce((n, w) => n + size(w), 0);
  const nonTrainable = model.nonTrainableWeights.reduce((n, w) => n + size(w), 0);
  return { total: model.countParams(), trainable, nonTrainable };
}

test('setup: engine', async () => {
  await initEngine();
});

for (const [id, options, totalParams, trainableParams, nonTrainableParams, outputShape, layerNames] of BACKBONES) {
  test(`${id} ${JSON.stringify(options)}: params ${totalParams} (${nonTrainableParams} non-trainable), output ${JSON.stringify(outputShape)}`, async () => {
    await initEngine();
    const model = getBackbone(id).build(options);
    try {
      assert.deepEqual(paramCounts(model), { total: totalParams, trainable: trainableParams, nonTrainable: nonTrainableParams });
      assert.deepEqual(model.outputs[0].shape, outputShape);
      const names = new Set(model.layers.map((l) => l.name));
      for (const name of layerNames) assert.ok(names.has(name), `layer '${name}' missing from ${model.name}`);
    } finally {
      model.dispose();
    }
  });
}

test('every registered backbone: names are per model (building twice gives the same names), no tensor leak', async () => {
  await initEngine();
  for (const definition of listBackbones()) {
    const before = tf.memory().numTensors;
    const first = definition.build({ includeTop: false });
    const second = definition.build({ includeTop: false });
    assert.deepEqual(second.layers.map((l) => l.name), first.layers.map((l) => l.name), definition.id);
    assert.equal(second.name, first.name);
    assert.equal(new Set(first.layers.map((l) => l.name)).size, first.layers.length, `${definition.id}: duplicate layer names`);
    first.dispose();
    second.dispose();
    assert.equal(tf.memory().numTensors, before, `${definition.id}: tensors leaked by build + dispose`);
  }
});

test('every registered backbone: one forward pass at its minimum input size', async () => {
  await initEngine();
  for (const definition of listBackbones()) {
    const size = definition.minInputSize;
    const model = definition.build({ includeTop: false, inputShape: [size, size, 3], pooling: 'avg' });
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => model.predict(tf.randomUniform([1, size, size, 3], 0, 255, 'float32', 7)) as tf.Tensor);
    assert.deepEqual(y.shape, model.outputs[0].shape.map((d) => d ?? 1), definition.id);
    assert.ok(Array.from(y.dataSync()).every(Number.isFinite), `${definition.id}: non-finite output`);
    y.dispose();
    assert.equal(tf.memory().numTensors, before, `${definition.id}: tensors leaked by predict`);
    model.dispose();
  }
});

test('mobilenet: Keras model names and BatchNorm settings', async () => {
  await initEngine();
  const cases: [BackboneOptions, string][] = [
    [{}, 'mobilenet_1.00_224'],
    [{ alpha: 0.25, includeTop: false, inputShape: [128, 128, 3] }, 'mobilenet_0.25_128'],
    // with ImageNet weights Keras names the model after the 224 weights it falls back to
    [{ weights: 'imagenet', includeTop: false, inputShape: [200, 200, 3] }, 'mobilenet_1.00_224'],
  ];
  for (const [options, name] of cases) {
    const model = getBackbone('mobilenet').build(options);
    assert.equal(model.name, name);
    model.dispose();
  }
  const model = getBackbone('mobilenet').build({ includeTop: false, alpha: 0.25, inputShape: [32, 32, 3] });
  const bn = model.getLayer('conv_dw_5_bn').getConfig();
  assert.equal(bn.epsilon, 1e-3);
  assert.equal(bn.momentum, 0.99);
  assert.equal(model.getLayer('conv1_relu').getConfig().maxValue, 6);
  assert.deepEqual(model.getLayer('conv_pad_2').getConfig().padding, [[0, 1], [0, 1]]);
  assert.equal(model.getLayer('conv_dw_2').getConfig().padding, 'valid');
  assert.equal(model.getLayer('conv_dw_3').getConfig().padding, 'same');
  assert.equal(model.getLayer('conv_pw_3').getConfig().useBias, false);
  model.dispose();
});

/** Asserts a UsageError naming `argument` whose message matches every pattern. */
function assertUsageError(fn: () => unknown, argument: string, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected UsageError, got ${String(error)}`);
    assert.equal(error.argument, argument);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

test('mobilenet: Keras checks with clear messages', () => {
  const build = (options: BackboneOptions) => getBackbone('mobilenet').build(options).dispose();
  assertUsageError(() => build({ weights: 'imagenet', alpha: 0.3 }), 'alpha', /0\.25, 0\.5, 0\.75, 1/, /Received: alpha=0\.3/);
  assertUsageError(() => build({ weights: 'imagenet', depthMultiplier: 2 }), 'depthMultiplier', /must be 1/, /Received: depthMultiplier=2/);
  assertUsageError(() => build({ includeTop: false, inputShape: [31, 64, 3] }), 'inputShape', /at least 32x32/, /Received: inputShape=\[31, 64, 3\]/);
  assertUsageError(() => build({ weights: 'imagenet', inputShape: [200, 200, 3] }), 'inputShape', /must be \[224, 224, 3\]/, /Received: inputShape=\[200, 200, 3\]/);
  assertUsageError(() => build({ weights: 'imagenet', classes: 10 }), 'classes', /must be 1000/, /Received: classes=10/);
  assertUsageError(() => build({ weights: 'imagenet', classifierActivation: 'sigmoid' }), 'classifierActivation', /null and 'softmax'/, /Received: classifierActivation="sigmoid"/);
  assertUsageError(() => build({ alpha: 0 }), 'alpha', /positive number/, /Received: alpha=0/);
  assertUsageError(() => build({ depthMultiplier: 1.5 }), 'depthMultiplier', /positive integer/);
  assertUsageError(() => build({ dropout: 1 }), 'dropout', /\[0, 1\)/);
});

test('mobilenet: what is accepted (Keras semantics)', () => {
  // Without ImageNet weights any positive alpha builds, e.g. 0.3; with them includeTop accepts the
  // published square sizes besides 224.
  const cases: BackboneOptions[] = [{ alpha: 0.3, includeTop: false, inputShape: [32, 32, 3] }, { weights: 'imagenet', alpha: 0.5, inputShape: [128, 128, 3] }];
  for (const options of cases) getBackbone('mobilenet').build(options).dispose();
});
