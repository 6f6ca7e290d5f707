import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { explainNonTrainable, formatCount, formatSummary, summarize } from '../../src/models/summary.js';
import { getBackbone } from '../../src/models/zoo.js';
import { removeBatchNorm } from '../../src/models/batchnorm.js';

before(async () => {
  await initEngine();
});

function chainModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 6, 3], name: 'input_1' });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, useBias: false, name: 'conv' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'conv_bn' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.flatten({ name: 'flatten' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 3, name: 'dense' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'dense_bn', center: false }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x, name: 'chain' });
}

test('summarize counts params from weight shapes, per layer and in total', () => {
  const s = summarize(chainModel());
  assert.equal(s.name, 'chain');
  assert.deepEqual(
    s.layers.map((l) => [l.name, l.className, l.params, l.trainable]),
    [
      ['input_1', 'InputLayer', 0, false], // tfjs makes input layers non-trainable; they hold no weights
      ['conv', 'Conv2D', 108, true],
      ['conv_bn', 'BatchNormalization', 16, true],
      ['flatten', 'Flatten', 0, true],
      ['dense', 'Dense', 64 * 3 + 3, true],
      ['dense_bn', 'BatchNormalization', 9, true],
    ],
  );
  assert.deepEqual(s.layers[1].outputShape, [null, 4, 4, 4]);
  assert.deepEqual(s.layers[1].connectedTo, ['input_1[0][0]']);
  assert.equal(s.totalParams, 108 + 16 + 195 + 9);
  assert.equal(s.nonTrainableParams, 8 + 6);
  assert.equal(s.trainableParams, s.totalParams - 14);
  assert.deepEqual(
    s.nonTrainableBreakdown.map((g) => [g.layerClass, g.weightKind, g.layers, g.params, g.frozen]),
    [
      ['BatchNormalization', 'moving_mean', 2, 7, false],
      ['BatchNormalization', 'moving_variance', 2, 7, false],
    ],
  );
});

test('frozen layers: their weights become non-trainable and are explained as frozen', () => {
  const model = chainModel();
  model.getLayer('conv').trainable = false;
  model.getLayer('conv_bn').trainable = false;
  const s = summarize(model);
  assert.equal(s.nonTrainableParams, 108 + 16 + 6);
  assert.equal(s.layers.find((l) => l.name === 'conv')!.trainable, false);
  const frozen = s.nonTrainableBreakdown.filter((g) => g.frozen).map((g) => [g.layerClass, g.weightKind, g.params]);
  assert.deepEqual(frozen, [
    ['Conv2D', 'kernel', 108],
    ['BatchNormalization', 'gamma', 4],
    ['BatchNormalization', 'beta', 4],
  ]);
  const text = explainNonTrainable(s).join('\n');
  assert.match(text, /14: moving_mean and moving_variance of 2 BatchNormalization layers \(running statistics/);
  assert.match(text, /116: weights of 2 frozen layers \(trainable=false\): kernel of 1 Conv2D layer; gamma and beta of 1 BatchNormalization layer$/m);
  // Freezing through the model flag (tfjs's Container setter) counts the same.
  const whole = chainModel();
  whole.trainable = false;
  const all = summarize(whole);
  assert.equal(all.trainableParams, 0);
  assert.ok(all.layers.every((l) => !l.trainable));
});

test('formatSummary prints a Keras table and the totals with thousands separators', () => {
  assert.equal(formatCount(4031730), '4,031,730');
  assert.equal(formatCount(0), '0');
  const text = formatSummary(summarize(chainModel()));
  const lines = text.split('\n');
  assert.equal(lines[0], 'Model: "chain"');
  assert.match(lines[2], /^ Layer \(type\) +Output Shape +Param #$/, 'a chain has no "Connected to" column');
  assert.match(text, /\n conv \(Conv2D\) +\(None, 4, 4, 4\) +108\n/);
  assert.match(text, /\n dense \(Dense\) +\(None, 3\) +195\n/);
  assert.match(text, /\nTotal params: 328\nTrainable params: 314\nNon-trainable params: 14\n_+\nWhat is non-trainable here:\n/);
});

test('a branching model gets Keras\'s "Connected to" column, one input per line', () => {
  const input = tfl.input({ shape: [4], name: 'x' });
  const a = tfl.layers.dense({ units: 2, name: 'a' }).apply(input) as tfl.SymbolicTensor;
  const b = tfl.layers.dense({ units: 2, name: 'b' }).apply(input) as tfl.SymbolicTensor;
  const sum = tfl.layers.add({ name: 'sum' }).apply([a, b]) as tfl.SymbolicTensor;
  const text = formatSummary(summarize(tfl.model({ inputs: input, outputs: sum, name: 'branchy' })));
  assert.match(text, /Connected to/);
  assert.match(text, /\n sum \(Add\) +\(None, 2\) +0 +a\[0\]\[0\]\n +b\[0\]\[0\]\n/);
  assert.match(text, /Nothing is non-trainable here/);
});

test('zoo: MobileNet without top is 3,228,864 params (21,888 BN statistics); without BatchNorm 3,185,088, all trainable', () => {
  const model = getBackbone('mobilenet').build({ includeTop: false, inputShape: [224, 224, 3] });
  const s = summarize(model);
  assert.deepEqual([s.totalParams, s.trainableParams, s.nonTrainableParams], [3_228_864, 3_206_976, 21_888]);
  assert.match(explainNonTrainable(s).join('\n'), /21,888: moving_mean and moving_variance of 27 BatchNormalization layers/);
  const r = summarize(removeBatchNorm(model));
  assert.deepEqual([r.totalParams, r.nonTrainableParams], [3_185_088, 0]);
  assert.match(formatSummary(r), /Total params: 3,185,088\nTrainable params: 3,185,088\nNon-trainable params: 0\n/);
});

test('zoo: EfficientNetB0 counts its Normalization statistics as non-trainable, as Keras does', () => {
  const s = summarize(getBackbone('efficientnet_b0').build({ includeTop: false }));
  assert.deepEqual([s.totalParams, s.nonTrainableParams], [4_049_571, 42_023]);
  const normalization = s.nonTrainableBreakdown.filter((g) => g.layerClass === 'Normalization').map((g) => [g.weightKind, g.params]);
  assert.deepEqual(normalization, [['mean', 3], ['variance', 3], ['count', 1]]);
  assert.match(explainNonTrainable(s).join('\n'), /7: mean, variance and count of 1 Normalization layer/);
});
