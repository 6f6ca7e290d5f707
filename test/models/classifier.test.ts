import { tfjsLossName } from '../../src/core/names.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { UsageError } from '../../src/core/errors.js';
import { registerBackbone } from '../../src/models/registry.js';
import { LayerNames } from '../../src/models/naming.js';
import type { BackboneOptions } from '../../src/models/types.js';
import { buildClassifier, setTrainable } from '../../src/models/classifier.js';
import { summarize } from '../../src/models/summary.js';

before(async () => {
  await initEngine();
});

const builtWith: BackboneOptions[] = [];

/** A three-block conv backbone, registered like a zoo family, so the classifier logic is tested in isolation. */
registerBackbone({
  id: 'tiny_test',
  kerasName: 'TinyTest',
  kerasModule: 'test',
  weights: {},
  description: 'conv-bn-relu x2 for tests',
  lastBlockInput: 'conv1_relu',
  defaultInputSize: 8,
  minInputSize: 8,
  preprocess: 'tf',
  build(options: BackboneOptions = {}) {
    builtWith.push(options);
    const names = new LayerNames();
    const size = options.inputShape ?? [8, 8, 3];
    const input = tfl.input({ shape: size, name: 'input_layer' });
    let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'conv1' }).apply(input) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({ name: 'conv1_bn' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.reLU({ name: 'conv1_relu' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'conv2' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({ name: 'conv2_bn' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.reLU({ name: names.auto('re_lu') }).apply(x) as tfl.SymbolicTensor;
    if (options.includeTop ?? true) {
      x = tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.dense({ units: options.classes ?? 1000, activation: 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
    } else if (options.pooling === 'avg') {
      x = tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tfl.SymbolicTensor;
    }
    return tfl.model({ inputs: input, outputs: x, name: 'tiny' });
  },
});

const BACKBONE_LAYERS = ['input_layer', 'conv1', 'conv1_bn', 'conv1_relu', 'conv2', 'conv2_bn', 're_lu'];
// conv1 3*3*3*4 + bn 4*4, conv2 3*3*4*6 + bn 6*4
const BACKBONE_PARAMS = 108 + 16 + 216 + 24;

test('buildClassifier makes one flat model: no-top backbone layers, then Keras-named head layers', () => {
  const c = buildClassifier({ backbone: 'tiny_test', backboneOptions: { includeTop: true, classes: 7 }, head: 'flatten,dense:16:relu,dropout:0.25', classes: 2, classMode: 'sparse' });
  assert.equal(builtWith.at(-1)?.includeTop, false, 'includeTop is forced false');
  assert.deepEqual(c.backboneLayerNames, BACKBONE_LAYERS);
  assert.deepEqual(c.headLayerNames, ['flatten', 'dense', 'dropout', 'dense_1']);
  assert.deepEqual(c.model.layers.map((l) => l.name), [...BACKBONE_LAYERS, ...c.headLayerNames]);
  assert.ok(c.model.layers.every((l) => !(l instanceof tfl.LayersModel)), 'no nested model');
  c.backbone.layers.forEach((l, i) => assert.equal(l, c.model.layers[i], 'backbone layers are shared'));
  assert.equal(c.loss, 'sparse_categorical_crossentropy');
  assert.deepEqual(c.inputShape, [8, 8, 3]);
  assert.equal(c.preprocess, 'tf');
  assert.equal(c.classes, 2);
  assert.equal(c.backboneId, 'tiny_test');
  assert.deepEqual(c.model.outputs[0].shape, [null, 2]);
  // Flatten 4*4*6=96 -> Dense(16) -> Dense(2)
  assert.equal(summarize(c.model).totalParams, BACKBONE_PARAMS + 96 * 16 + 16 + 16 * 2 + 2);
});

test('buildClassifier: default head is gap; binary gives one sigmoid unit and binary cross-entropy', () => {
  const c = buildClassifier({ backbone: 'tiny_test', classes: 2, classMode: 'binary' });
  assert.deepEqual(c.headLayerNames, ['global_average_pooling2d', 'dense']);
  assert.equal(c.loss, 'binary_crossentropy');
  assert.deepEqual(c.model.outputs[0].shape, [null, 1]);
  assert.equal(c.model.getLayer('dense').getConfig().activation, 'sigmoid');
  const cat = buildClassifier({ backbone: 'tiny_test', head: [{ kind: 'gmp' }], classes: 5, classMode: 'categorical' });
  assert.equal(cat.loss, 'categorical_crossentropy');
  assert.equal(tfjsLossName(cat.loss), 'categoricalCrossentropy', 'the spelling tfjs-layers compile() takes');
  assert.deepEqual(cat.model.outputs[0].shape, [null, 5]);
  const pooled = buildClassifier({ backbone: 'tiny_test', backboneOptions: { pooling: 'avg' }, head: '', classes: 3, classMode: 'sparse' });
  assert.deepEqual(pooled.headLayerNames, ['dense']);
});

test('weights loaded into classifier.backbone are the classifier model\'s weights', () => {
  const c = buildClassifier({ backbone: 'tiny_test', classes: 2, classMode: 'sparse' });
  const zeros = c.backbone.getWeights().map((w) => tf.zerosLike(w));
  c.backbone.setWeights(zeros);
  const conv = c.model.getLayer('conv1').getWeights()[0];
  assert.equal(tf.tidy(() => tf.max(tf.abs(conv)).dataSync()[0]), 0);
  tf.dispose(zeros);
});

test('freezeBackbone moves exactly the backbone params to non-trainable', () => {
  const open = summarize(buildClassifier({ backbone: 'tiny_test', classes: 2, classMode: 'sparse' }).model);
  const c = buildClassifier({ backbone: 'tiny_test', classes: 2, classMode: 'sparse', freezeBackbone: true });
  const frozen = summarize(c.model);
  assert.equal(frozen.totalParams, open.totalParams);
  assert.equal(frozen.nonTrainableParams, BACKBONE_PARAMS);
  assert.equal(frozen.trainableParams, 6 * 2 + 2);
  assert.ok(c.backbone.layers.every((l) => !l.trainable));
  assert.ok(c.headLayerNames.every((n) => c.model.getLayer(n).trainable));
  assert.equal(open.nonTrainableParams, 4 * 2 + 6 * 2, 'only the moving statistics before freezing');
});

test('setTrainable: fineTuneFrom freezes the layers before it; all unfreezes; unknown names are refused', () => {
  const c = buildClassifier({ backbone: 'tiny_test', classes: 2, classMode: 'sparse', freezeBackbone: true });
  setTrainable(c, { fineTuneFrom: 'conv2' });
  const flags = Object.fromEntries(c.model.layers.map((l) => [l.name, l.trainable]));
  assert.deepEqual(flags, { input_layer: false, conv1: false, conv1_bn: false, conv1_relu: false, conv2: true, conv2_bn: true, re_lu: true, global_average_pooling2d: true, dense: true });
  assert.equal(summarize(c.model).nonTrainableParams, 108 + 16 + 6 * 2);
  setTrainable(c, { fineTuneFrom: 'all' });
  assert.ok(c.model.layers.every((l) => l.trainable));
  setTrainable(c, { freezeBackbone: false, freezeBatchNorm: true });
  assert.equal(c.model.getLayer('conv1_bn').trainable, false);
  assert.equal(c.model.getLayer('conv1').trainable, true);
  assert.throws(
    () => setTrainable(c, { fineTuneFrom: 'conv9' }),
    (e: unknown) => e instanceof UsageError && /fineTuneFrom.*'tiny_test'.*conv1.*Received: fineTuneFrom="conv9"/.test(e.message),
  );
});

test('a frozen backbone keeps its weights and BatchNorm statistics through fit; the head trains', async () => {
  const c = buildClassifier({ backbone: 'tiny_test', classes: 2, classMode: 'sparse', freezeBackbone: true });
  // Moving statistics away from the defaults, so inference-mode BN differs from batch statistics.
  for (const name of ['conv1_bn', 'conv2_bn']) {
    const layer = c.model.getLayer(name);
    layer.setWeights(layer.getWeights().map((w, i) => tf.fill(w.shape, i === 2 ? 0.3 : i === 3 ? 2 : 1)));
  }
  const backboneBefore = c.backbone.getWeights().map((w) => Array.from(w.dataSync()));
  const headBefore = Array.from(c.model.getLayer('dense').getWeights()[0].dataSync());
  c.model.compile({ optimizer: tf.train.sgd(0.5), loss: tfjsLossName(c.loss) });
  const x = tf.randomUniform([8, 8, 8, 3], 0, 1, 'float32', 3);
  const y = tf.tensor1d([0, 1, 0, 1, 1, 0, 1, 0]);
  await c.model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
  assert.deepEqual(c.backbone.getWeights().map((w) => Array.from(w.dataSync())), backboneBefore);
  assert.notDeepEqual(Array.from(c.model.getLayer('dense').getWeights()[0].dataSync()), headBefore);
  tf.dispose([x, y]);
});

test('buildClassifier refuses bad input with Keras-quality messages', () => {
  assert.throws(
    () => buildClassifier({ backbone: 'nope', classes: 2, classMode: 'sparse' }),
    (e: unknown) => e instanceof UsageError && /Unknown backbone 'nope'. Available: .*tiny_test/.test(e.message),
  );
  assert.throws(() => buildClassifier({ backbone: 'tiny_test', classes: 3, classMode: 'binary' }), /binary' needs exactly 2 classes/);
  assert.throws(() => buildClassifier({ backbone: 'tiny_test', classes: 0, classMode: 'sparse' }), /classes=0/);
  assert.throws(() => buildClassifier({ backbone: 'tiny_test', classes: 2, classMode: 'multi' as never }), /classMode="multi"/);
  assert.throws(() => buildClassifier({ backbone: 'tiny_test', head: 'dense:x', classes: 2, classMode: 'sparse' }), /dense:x/);
});

test('zoo: the lesson classifier on MobileNet has Keras\'s params and names, twice in one process', async () => {
  await import('../../src/models/zoo.js');
  const build = (classMode: 'sparse' | 'binary') =>
    buildClassifier({ backbone: 'mobilenet', backboneOptions: { inputShape: [224, 224, 3] }, head: 'flatten,dense:16:relu,dropout:0.25', classes: 2, classMode });
  const sparse = build('sparse');
  const s = summarize(sparse.model);
  assert.deepEqual([s.totalParams, s.trainableParams, s.nonTrainableParams], [4_031_730, 4_009_842, 21_888]);
  assert.deepEqual(sparse.headLayerNames, ['flatten', 'dense', 'dropout', 'dense_1']);
  assert.equal(sparse.backboneLayerNames[1], 'conv1');
  assert.equal(sparse.preprocess, 'tf');
  const binary = build('binary');
  assert.equal(summarize(binary.model).totalParams, 4_031_713);
  assert.deepEqual(binary.model.layers.map((l) => l.name), sparse.model.layers.map((l) => l.name));
  const frozen = summarize(buildClassifier({ backbone: 'mobilenet', head: 'flatten,dense:16:relu,dropout:0.25', classes: 2, classMode: 'sparse', freezeBackbone: true }).model);
  assert.equal(frozen.nonTrainableParams, 3_228_864);
  assert.equal(frozen.trainableParams, 4_031_730 - 3_228_864);
});

test("zoo: fineTuneFrom 'last-block' unfreezes exactly the layers after each backbone's lastBlockInput", async () => {
  const { listBackbones } = await import('../../src/models/zoo.js');
  for (const def of listBackbones().filter((d) => d.kerasModule !== 'test')) {
    const size = Math.max(def.minInputSize, 75);
    const c = buildClassifier({ backbone: def.id, backboneOptions: { inputShape: [size, size, 3] }, classes: 2, classMode: 'sparse' });
    try {
      setTrainable(c, { fineTuneFrom: 'last-block' });
      const names = c.backbone.layers.map((l) => l.name);
      const boundary = names.indexOf(def.lastBlockInput);
      assert.ok(boundary > 0, `${def.id}: no layer ${def.lastBlockInput}`);
      c.backbone.layers.forEach((l, i) => assert.equal(l.trainable, i > boundary, `${def.id}: ${l.name}`));
      const s = summarize(c.model);
      assert.ok(s.trainableParams > 0 && s.trainableParams < s.totalParams / 2, `${def.id}: the last block is a small part (${s.trainableParams}/${s.totalParams})`);
    } finally {
      c.model.dispose();
    }
  }
});
