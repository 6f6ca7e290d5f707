import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/io.js';

const LESSON_HEAD = ['--input-size', '224', '--head', 'flatten,dense:16:relu,dropout:0.25', '--classes', '2', '--class-mode', 'sparse'];

interface SummaryJson {
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
  layers: { name: string; className: string; outputShape: unknown; params: number; trainable: boolean }[];
}

async function summaryJson(argv: string[]): Promise<SummaryJson> {
  const r = await runCli(['summary', ...argv, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as SummaryJson;
}

// The reference experiment's table (Keras, include_top=False, input 224, Flatten-Dense(16)-Dropout-Dense(2)).
const LESSON: [string, number, number, number][] = [
  ['mobilenet', 4_031_730, 4_009_842, 21_888],
  ['resnet50', 25_193_394, 25_140_274, 53_120],
  ['inception_v3', 22_622_034, 22_587_602, 34_432],
  ['xception', 22_467_162, 22_412_634, 54_528],
];

for (const [backbone, total, trainable, nonTrainable] of LESSON) {
  test(`tlkit summary ${backbone} with the lesson head: ${total} / ${trainable} / ${nonTrainable}`, async () => {
    const s = await summaryJson([backbone, ...LESSON_HEAD]);
    assert.deepEqual([s.totalParams, s.trainableParams, s.nonTrainableParams], [total, trainable, nonTrainable]);
    assert.deepEqual(s.layers.slice(-4).map((l) => [l.name, l.className]), [
      ['flatten', 'Flatten'],
      ['dense', 'Dense'],
      ['dropout', 'Dropout'],
      ['dense_1', 'Dense'],
    ]);
    assert.deepEqual(s.layers.at(-1)!.outputShape, [null, 2]);
  });
}

test('tlkit summary --json prints exactly the documented fields', async () => {
  const r = await runCli(['summary', 'mobilenet', '--no-top', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(s), ['totalParams', 'trainableParams', 'nonTrainableParams', 'layers']);
  assert.deepEqual(Object.keys(s.layers[1]), ['name', 'className', 'outputShape', 'params', 'trainable']);
  assert.deepEqual(s.layers[1], { name: 'conv1', className: 'Conv2D', outputShape: [null, 112, 112, 32], params: 864, trainable: true });
  assert.deepEqual([s.totalParams, s.nonTrainableParams], [3_228_864, 21_888]);
});

test('tlkit summary text: Keras table, totals with separators, and what is non-trainable', async () => {
  const r = await runCli(['summary', 'mobilenet', ...LESSON_HEAD]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Model: "mobilenet_1\.00_224_classifier"\n/);
  assert.match(r.stdout, /\n conv1 \(Conv2D\) +\(None, 112, 112, 32\) +864\n/);
  assert.match(r.stdout, /\nTotal params: 4,031,730\nTrainable params: 4,009,842\nNon-trainable params: 21,888\n/);
  assert.match(r.stdout, /21,888: moving_mean and moving_variance of 27 BatchNormalization layers/);
});

test('tlkit summary mobilenet --class-mode binary: one sigmoid unit, 4,031,713 params', async () => {
  const s = await summaryJson(['mobilenet', ...LESSON_HEAD.slice(0, -2), '--class-mode', 'binary']);
  assert.equal(s.totalParams, 4_031_713);
  assert.deepEqual(s.layers.at(-1)!.outputShape, [null, 1]);
});

test('tlkit summary mobilenet --no-top --remove-batchnorm: 3,185,088 params, none non-trainable', async () => {
  const s = await summaryJson(['mobilenet', '--no-top', '--remove-batchnorm']);
  assert.deepEqual([s.totalParams, s.trainableParams, s.nonTrainableParams], [3_185_088, 3_185_088, 0]);
  assert.ok(!s.layers.some((l) => l.className === 'BatchNormalization'));
});

test('tlkit summary --fold-batchnorm keeps only trainable conv weights plus biases', async () => {
  const s = await summaryJson(['mobilenet', '--no-top', '--fold-batchnorm']);
  // Every MobileNet BN follows a bias-free conv: folding adds one bias per channel (10,944 of them).
  assert.deepEqual([s.totalParams, s.nonTrainableParams], [3_185_088 + 10_944, 0]);
  assert.equal(s.layers.find((l) => l.name === 'conv1')!.params, 864 + 32);
});

test('tlkit summary --freeze-backbone moves the backbone params to non-trainable', async () => {
  const s = await summaryJson(['mobilenet', ...LESSON_HEAD, '--freeze-backbone']);
  assert.deepEqual([s.totalParams, s.trainableParams, s.nonTrainableParams], [4_031_730, 802_832 + 34, 3_228_864]);
  assert.equal(s.layers.find((l) => l.name === 'conv1')!.trainable, false);
  assert.equal(s.layers.find((l) => l.name === 'dense')!.trainable, true);
  const r = await runCli(['summary', 'mobilenet', ...LESSON_HEAD, '--freeze-backbone']);
  assert.match(r.stdout, /3,206,976: weights of 54 frozen layers \(trainable=false\): kernel of 14 Conv2D layers; gamma and beta of 27 BatchNormalization layers; depthwise_kernel of 13 DepthwiseConv2D layers/);
});

test('tlkit summary BACKBONE shows the Keras model with its ImageNet top by default', async () => {
  const s = await summaryJson(['mobilenet']);
  assert.equal(s.totalParams, 4_253_864);
  assert.deepEqual(s.layers.at(-1)!.outputShape, [null, 1000]);
  const small = await summaryJson(['mobilenet', '--alpha', '0.25', '--no-top', '--pooling', 'avg', '--input-size', '128']);
  assert.deepEqual(small.layers.at(-1)!.outputShape, [null, 256]);
});

async function usageError(argv: string[], message: RegExp): Promise<void> {
  const r = await runCli(['summary', ...argv]);
  assert.equal(r.code, 2, `exit code for ${argv.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.equal(r.stdout, '');
}

test('tlkit summary: bad input exits 2 with a message saying what is accepted', async () => {
  await usageError(['vgg16'], /Unknown backbone 'vgg16'. Available: .*mobilenet.*resnet50|Unknown backbone 'vgg16'. Available: .*resnet50.*mobilenet/);
  await usageError([], /Name a backbone.*Available: /);
  await usageError(['mobilenet', '--head', 'flatten,dense:16:relu,dropot:0.25', '--classes', '2'], /Invalid head part "dropot:0.25".*Accepted parts: flatten, gap, gmp, dense:UNITS\[:ACTIVATION\], dropout:RATE/);
  await usageError(['mobilenet', '--classes', '0'], /--classes expects an integer >= 1; got '0'/);
  await usageError(['mobilenet', '--classes=-3', '--class-mode', 'sparse'], /--classes expects an integer >= 1; got '-3'/);
  await usageError(['mobilenet', '--classes', '3', '--class-mode', 'binary'], /--class-mode binary means 2 classes.*got --classes 3/);
  await usageError(['mobilenet', '--class-mode', 'multi', '--classes', '2'], /--class-mode expects one of binary, sparse, categorical; got 'multi'/);
  await usageError(['mobilenet', '--head', 'gap'], /--classes N is required/);
  await usageError(['mobilenet', '--alpha', '0.3'], /--alpha for mobilenet must be one of 0.25, 0.5, 0.75, 1.0; got '0.3'/);
  await usageError(['resnet50', '--alpha', '0.5'], /--alpha applies to .*mobilenet.*'resnet50' has no width multiplier/);
  await usageError(['mobilenet', '--input-size', '16', '--no-top'], /at least 32x32/);
  await usageError(['mobilenet', '--remove-batchnorm', '--fold-batchnorm'], /exclude each other/);
  await usageError(['mobilenet', '--pooling', 'sum', '--no-top'], /--pooling expects one of avg, max; got 'sum'/);
  await usageError(['mobilenet', '--frobnicate'], /unknown option '--frobnicate'/);
  await usageError(['mobilenet', '--size', '96'], /unknown option '--size' \(did you mean --input-size\?\)/);
});

test('tlkit models lists the registry with Keras names, sizes, preprocessing, alphas and weights', async () => {
  const r = await runCli(['models']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^id +Keras name +input +min input +preprocess +alphas +weights\n/);
  // The weights column starts with imagenet; the weights catalog may list offline sources after it.
  assert.match(r.stdout, /\nmobilenet +MobileNet +224x224 +32x32 +tf +0\.25, 0\.5, 0\.75, 1\.0 +imagenet\b[^\n]*\n/);
  assert.match(r.stdout, /\nresnet50 +ResNet50 +224x224 +32x32 +caffe +- +imagenet\b/);
  const json = await runCli(['models', '--json']);
  const rows = JSON.parse(json.stdout) as { id: string; kerasName: string; defaultInputSize: number; minInputSize: number; preprocess: string; alphas: number[] | null; weights: string[] }[];
  const inception = rows.find((x) => x.id === 'inception_v3')!;
  assert.deepEqual([inception.kerasName, inception.defaultInputSize, inception.minInputSize, inception.preprocess, inception.alphas, inception.weights], ['InceptionV3', 299, 75, 'tf', null, ['imagenet', 'nsfwjs', 'none']]);
  for (const id of ['mobilenet', 'mobilenet_v2', 'resnet50', 'inception_v3', 'xception', 'efficientnet_b0']) assert.ok(rows.some((x) => x.id === id), id);
  assert.equal((await runCli(['models', 'extra'])).code, 2);
});
