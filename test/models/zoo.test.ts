// One table drives every backbone test (Keras's applications_test.py style). Add a row per variant:
// [id, options, totalParams, trainableParams, nonTrainableParams, outputShape, spot-checked layer names].
// Params are Keras's: published model.summary() figures, or for variants without a published figure the
// output of scripts/reference/keras_applications_params.py (test/fixtures/models/keras_params.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, tfl } from '../../src/engines/tfjs/tf.js';
import { getBackbone, listBackbones } from '../../src/models/zoo.js';
import type { BackboneOptions } from '../../src/models/types.js';
import { UsageError } from '../../src/core/errors.js';

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
  // mobilenet_v2 (Keras MobileNetV2): alpha 1.0 published; 0.35 / 0.5 / 1.3 / 1.4 from the calculator.
  ['mobilenet_v2', { includeTop: false }, 2_257_984, 2_223_872, 34_112, [null, 7, 7, 1280], ['Conv1', 'bn_Conv1', 'expanded_conv_depthwise', 'expanded_conv_project_BN', 'block_1_pad', 'block_16_project_BN', 'Conv_1_bn', 'out_relu']],
  ['mobilenet_v2', {}, 3_538_984, 3_504_872, 34_112, [null, 1000], ['block_2_add', 'block_15_add', 'global_average_pooling2d', 'predictions']],
  ['mobilenet_v2', { alpha: 0.35, includeTop: false }, 410_208, 396_128, 14_080, [null, 7, 7, 1280], ['block_13_expand_relu']],
  ['mobilenet_v2', { alpha: 0.5, includeTop: false, inputShape: [96, 96, 3], pooling: 'avg' }, 706_224, 687_680, 18_544, [null, 1280], ['global_average_pooling2d']],
  ['mobilenet_v2', { alpha: 1.3, includeTop: false }, 3_766_048, 3_721_792, 44_256, [null, 7, 7, 1664], ['Conv_1']],
  ['mobilenet_v2', { alpha: 1.4 }, 6_156_712, 6_108_776, 47_936, [null, 1000], ['predictions']],
  // odd sizes take correct_pad's other branch: 75 -> 38 -> 19 -> 10 -> 5 -> 3
  ['mobilenet_v2', { includeTop: false, inputShape: [75, 75, 3] }, 2_257_984, 2_223_872, 34_112, [null, 3, 3, 1280], ['block_3_pad', 'block_13_pad']],
  // efficientnet_b0 (Keras EfficientNetB0): published; non-trainable includes Normalization's 7 values.
  ['efficientnet_b0', { includeTop: false }, 4_049_571, 4_007_548, 42_023, [null, 7, 7, 1280], ['rescaling', 'normalization', 'stem_conv_pad', 'stem_conv', 'stem_activation', 'block1a_se_excite', 'block2a_dwconv_pad', 'block2b_drop', 'block2b_add', 'block7a_project_bn', 'top_conv', 'top_activation']],
  ['efficientnet_b0', {}, 5_330_571, 5_288_548, 42_023, [null, 1000], ['avg_pool', 'top_dropout', 'predictions']],
  ['efficientnet_b0', { classes: 10 }, 4_062_381, 4_020_358, 42_023, [null, 10], ['predictions']],
  ['efficientnet_b0', { includeTop: false, weights: 'imagenet', pooling: 'max' }, 4_049_571, 4_007_548, 42_023, [null, 1280], ['rescaling_1', 'max_pool']],
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
  const size = (w: { shape: (number | null)[] }) => w.shape.reduce<number>((a, b) => a * (b ?? Number.NaN), 1);
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

test('mobilenet_v2: Keras model names and BatchNorm settings (epsilon 1e-3, momentum 0.999)', async () => {
  await initEngine();
  const cases: [BackboneOptions, string][] = [
    [{ includeTop: false }, 'mobilenetv2_1.00_224'],
    [{ alpha: 0.35, includeTop: false, inputShape: [96, 96, 3] }, 'mobilenetv2_0.35_96'],
    [{ weights: 'imagenet', includeTop: false, inputShape: [96, 128, 3] }, 'mobilenetv2_1.00_224'],
  ];
  for (const [options, name] of cases) {
    const model = getBackbone('mobilenet_v2').build(options);
    assert.equal(model.name, name);
    model.dispose();
  }
  const model = getBackbone('mobilenet_v2').build({ includeTop: false, alpha: 0.35, inputShape: [32, 32, 3] });
  for (const name of ['bn_Conv1', 'block_5_depthwise_BN', 'Conv_1_bn']) {
    const bn = model.getLayer(name).getConfig();
    assert.equal(bn.epsilon, 1e-3, name);
    assert.equal(bn.momentum, 0.999, name);
  }
  assert.equal(model.getLayer('block_5_expand_relu').getConfig().maxValue, 6);
  assert.equal(model.getLayer('block_3_depthwise').getConfig().padding, 'valid');
  assert.equal(model.getLayer('block_4_depthwise').getConfig().padding, 'same');
  // 32 -> Conv1 16 -> block_1 (even): pad bottom/right only
  assert.deepEqual(model.getLayer('block_1_pad').getConfig().padding, [[0, 1], [0, 1]]);
  model.dispose();
});

test('mobilenet_v2: Keras checks with clear messages', () => {
  const build = (options: BackboneOptions) => getBackbone('mobilenet_v2').build(options).dispose();
  assertUsageError(() => build({ weights: 'imagenet', alpha: 0.25 }), 'alpha', /0\.35, 0\.5, 0\.75, 1, 1\.3, 1\.4/, /Received: alpha=0\.25/);
  assertUsageError(() => build({ includeTop: false, inputShape: [32, 31, 3] }), 'inputShape', /at least 32x32/, /Received: inputShape=\[32, 31, 3\]/);
  assertUsageError(() => build({ weights: 'imagenet', inputShape: [200, 200, 3] }), 'inputShape', /must be \[224, 224, 3\]/);
  assertUsageError(() => build({ weights: 'imagenet', classes: 2 }), 'classes', /must be 1000/, /Received: classes=2/);
  assertUsageError(() => build({ dropout: 0.5 }), 'dropout', /MobileNetV2 has no `dropout` option/, /Received: dropout=0\.5/);
  // accepted: any positive alpha without weights; ImageNet's published square sizes with the top
  build({ alpha: 0.6, includeTop: false, inputShape: [32, 32, 3] });
  build({ weights: 'imagenet', alpha: 0.35, inputShape: [96, 96, 3] });
});

test('efficientnet_b0: preprocessing in the graph, swish, squeeze-excitation, drop-connect as Keras', async () => {
  await initEngine();
  const model = getBackbone('efficientnet_b0').build({ includeTop: false, inputShape: [32, 32, 3] });
  assert.equal(model.name, 'efficientnetb0');
  assert.equal(model.getLayer('rescaling').getClassName(), 'Rescaling');
  assert.equal(model.getLayer('rescaling').getConfig().scale, 1 / 255);
  assert.throws(() => model.getLayer('rescaling_1'), 'the ImageNet std rescaling is there only with weights=imagenet');
  const normalization = model.getLayer('normalization');
  assert.equal(normalization.getClassName(), 'Normalization');
  assert.deepEqual(normalization.weights.map((w) => [w.originalName, w.shape, w.trainable]), [
    ['normalization/mean', [3], false],
    ['normalization/variance', [3], false],
    ['normalization/count', [], false],
  ]);
  assert.equal(model.getLayer('stem_activation').getConfig().activation, 'swish');
  assert.equal(model.getLayer('block3a_se_reduce').getConfig().activation, 'swish');
  assert.equal(model.getLayer('block3a_se_expand').getConfig().activation, 'sigmoid');
  assert.deepEqual(model.getLayer('block3a_se_reshape').outputShape, [null, 1, 1, 144]);
  assert.equal(model.getLayer('block3a_se_excite').getClassName(), 'Multiply');
  const bn = model.getLayer('block4b_bn').getConfig();
  assert.equal(bn.epsilon, 1e-3);
  assert.equal(bn.momentum, 0.99);
  assert.deepEqual(model.getLayer('block3a_dwconv_pad').getConfig().padding, [[1, 2], [1, 2]]); // 5x5, even size
  // drop-connect: rate grows linearly with the block index (0.2 * b / 16); one draw per sample
  assert.throws(() => model.getLayer('block1a_drop'));
  const drop = model.getLayer('block2b_drop');
  assert.equal(drop.getConfig().rate, (0.2 * 2) / 16);
  assert.deepEqual(drop.getConfig().noiseShape, [null, 1, 1, 1]);
  assert.equal(model.getLayer('block7a_project_bn').getConfig().axis, 3);
  tf.tidy(() => {
    const y = drop.apply(tf.ones([64, 2, 2, 3]), { training: true }) as tf.Tensor;
    const perSample = tf.sub(tf.max(y, [1, 2, 3]), tf.min(y, [1, 2, 3]));
    assert.equal(tf.max(perSample).dataSync()[0], 0, 'a sample was dropped only in part');
  });
  model.dispose();
});

test('efficientnet_b0: Normalization layer computes (x - mean) / max(sqrt(variance), 1e-7) and survives a JSON round trip', async () => {
  await initEngine();
  const model = getBackbone('efficientnet_b0').build({ includeTop: false, weights: 'imagenet', inputShape: [32, 32, 3] });
  const normalization = model.getLayer('normalization');
  const mean = [0.485, 0.456, 0.406];
  const variance = [0.229, 0.224, 0];
  const weights = [tf.tensor1d(mean), tf.tensor1d(variance), tf.scalar(7, 'int32')];
  normalization.setWeights(weights);
  weights.forEach((w) => w.dispose());
  const x = [[0.5, 0.5, 0.5], [1, 0, 0.406]];
  const got = tf.tidy(() => (normalization.apply(tf.tensor4d([[x]], [1, 1, 2, 3])) as tf.Tensor).arraySync() as number[][][][]);
  x.forEach((pixel, i) =>
    pixel.forEach((v, c) => {
      const expected = (v - mean[c]) / Math.max(Math.sqrt(variance[c]), 1e-7);
      assert.ok(Math.abs(got[0][0][i][c] - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `pixel ${i} channel ${c}: ${got[0][0][i][c]} vs ${expected}`);
    }),
  );
  // the per-channel ImageNet std correction Keras inserts with weights='imagenet'
  const scale = model.getLayer('rescaling_1').getConfig().scale as unknown as number[];
  assert.deepEqual(scale, [0.229, 0.224, 0.225].map((s) => 1 / Math.sqrt(s)));
  // custom class registered under Keras's name: the model deserialises from its JSON
  const restored = await tfl.models.modelFromJSON({ modelTopology: JSON.parse(JSON.stringify(model.toJSON(null, false))) });
  assert.deepEqual(restored.layers.map((l) => l.name), model.layers.map((l) => l.name));
  assert.equal(restored.getLayer('normalization').getClassName(), 'Normalization');
  assert.equal(restored.countParams(), model.countParams());
  restored.dispose();
  model.dispose();
});

test('efficientnet_b0: conv kernels start as Keras VarianceScaling(2, fan_out, truncated_normal)', async () => {
  await initEngine();
  const model = getBackbone('efficientnet_b0').build({ includeTop: false, inputShape: [32, 32, 3] });
  const values = model.getLayer('top_conv').getWeights()[0].dataSync();
  const n = values.length;
  let sum = 0;
  let sumSq = 0;
  let maxAbs = 0;
  for (const v of values) {
    sum += v;
    sumSq += v * v;
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  const std = Math.sqrt(sumSq / n - (sum / n) ** 2);
  const target = Math.sqrt(2 / 1280); // kernel [1, 1, 320, 1280]: fan_out = 1280
  assert.ok(Math.abs(std / target - 1) < 0.03, `std ${std} vs Keras ${target}`);
  // truncated at 2 * target / 0.8796 (a uniform draw would stop at sqrt(3) * target)
  assert.ok(maxAbs > 1.9 * target && maxAbs <= (2 * target) / 0.87962566 + 1e-6, `max |w| ${maxAbs}`);
  model.dispose();
});

test('efficientnet_b0: Keras checks with clear messages', () => {
  const build = (options: BackboneOptions) => getBackbone('efficientnet_b0').build(options).dispose();
  assertUsageError(() => build({ includeTop: false, inputShape: [31, 31, 3] }), 'inputShape', /at least 32x32/, /Received: inputShape=\[31, 31, 3\]/);
  assertUsageError(() => build({ weights: 'imagenet', inputShape: [192, 192, 3] }), 'inputShape', /must be \[224, 224, 3\]/, /Received: inputShape=\[192, 192, 3\]/);
  assertUsageError(() => build({ weights: 'imagenet', classes: 10 }), 'classes', /must be 1000/, /Received: classes=10/);
  assertUsageError(() => build({ alpha: 0.5 }), 'alpha', /has no `alpha` option/, /Received: alpha=0\.5/);
  assertUsageError(() => build({ weights: 'imagenet', includeTop: false, inputShape: [64, 64, 1] }), 'inputShape', /3 input channels/);
});
