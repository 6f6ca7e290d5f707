// The README's library examples, in README order, as a user of the installed package runs them: imports
// from 'tlkit' only, data from the sample the package ships. Sizes are cut down so the whole runs in
// seconds (input 32 instead of 224, one epoch, a few images); the calls and options are README's.
// pack_install.test.ts compiles this in a fresh project and runs it: argv[2] is a data folder with
// train/ and test/ (a subset of samples/fashion-shoes), argv[3] a scratch folder.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  compareBackbones,
  formatCompareTable,
  writeCompareReport,
  buildClassifier,
  setTrainable,
  summarize,
  formatSummary,
  getBackbone,
  loadBackboneWeights,
  saveModel,
  loadModel,
  saveH5,
  loadH5Weights,
  createFrozenEngine,
  createOnnxPredictor,
  exportOnnx,
  ImageDataGenerator,
  preprocessInput,
  fit,
  evaluate,
  predict,
  trainRun,
  EarlyStopping,
  ModelCheckpoint,
  readCheckpoint,
  tf,
} from 'tlkit';

const [dataDir, scratch] = process.argv.slice(2) as [string, string];
const trainDir = join(dataDir, 'train');
const testDir = join(dataDir, 'test');
const size = 32;
const step = (name: string) => process.stdout.write(`${name}\n`);

// Compare backbones
const compared = await compareBackbones({ dataDir: trainDir, valDir: testDir, backbones: ['mobilenet_v2'], inputSize: size,
  epochs: 1, fineTuneEpochs: 1, fineTuneFrom: 'last-block', outDir: join(scratch, 'cmp'), select: 'within=0.01,time' });
assert.equal(compared.recommendation?.id, 'mobilenet_v2');
assert.match(formatCompareTable(compared), /Total params/);
const files = await writeCompareReport(compared);
assert.ok(existsSync(files.html) && existsSync(files.markdown) && existsSync(files.json), 'writeCompareReport writes the report');
step('compareBackbones, formatCompareTable, writeCompareReport');

// Models, heads and summaries: the reference experiment's MobileNet, with Keras's parameter counts.
const c = buildClassifier({ backbone: 'mobilenet', head: 'flatten,dense:16:relu,dropout:0.25', classes: 2, classMode: 'sparse' });
const summary = summarize(c.model);
assert.match(formatSummary(summary), /Total params: 4,031,730/);
setTrainable(c, { fineTuneFrom: 'conv_pw_12' });
assert.ok(summarize(c.model).trainableParams < summary.trainableParams, 'setTrainable froze the layers before conv_pw_12');
c.model.dispose();
step('buildClassifier, summarize, setTrainable');

// Weights and export: the offline nsfwjs weights, a saved model and a Keras .h5 round trip.
const backbone = getBackbone('mobilenet_v2').build({ includeTop: false, inputShape: [size, size, 3] });
const info = await loadBackboneWeights(backbone, 'mobilenet_v2', 'nsfwjs');
assert.equal(info.rescale, 1 / 255);
const h5 = join(scratch, 'backbone.h5');
await saveH5(backbone, h5);
const again = getBackbone('mobilenet_v2').build({ includeTop: false, inputShape: [size, size, 3] });
await loadH5Weights(again, h5);
assert.deepEqual(Array.from(again.getWeights()[0]!.dataSync().slice(0, 8)), Array.from(backbone.getWeights()[0]!.dataSync().slice(0, 8)));
step('getBackbone, loadBackboneWeights, saveH5, loadH5Weights');

// Fast engine: the frozen prefix on onnxruntime, the rest on tfjs.
const frozen = buildClassifier({ backbone: 'mobilenet_v2', backboneOptions: { inputShape: [size, size, 3], weights: null }, classes: 2, classMode: 'sparse', freezeBackbone: true });
const images = tf.randomUniform([4, size, size, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
const labels = tf.tensor1d([0, 1, 0, 1]);
const engine = await createFrozenEngine(frozen.model);
const features = await engine.features(images);
engine.head.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
const headLoss = await engine.head.trainOnBatch(features, labels);
assert.ok(Number.isFinite(Array.isArray(headLoss) ? headLoss[0] : headLoss));
const predictor = await createOnnxPredictor(frozen.model);
const onnxOut = await predictor.predict(images);
const tfjsOut = frozen.model.predict(images) as tf.Tensor;
assert.ok(tf.max(tf.abs(tf.sub(onnxOut, tfjsOut))).dataSync()[0]! < 1e-4, 'onnxruntime and tfjs agree');
const onnxBytes = await exportOnnx(frozen.model);
assert.ok(onnxBytes.length > 1000);
step('createFrozenEngine, createOnnxPredictor, exportOnnx');

// Data: ImageDataGenerator and flowFromDirectory.
const gen = new ImageDataGenerator({ rotationRange: 20, widthShiftRange: 0.1, heightShiftRange: 0.1, shearRange: 0.1,
  zoomRange: 0.1, horizontalFlip: true, brightnessRange: [0.8, 1.2], preprocessingFunction: preprocessInput('tf'),
  validationSplit: 0.2 });
const train = gen.flowFromDirectory(trainDir, { targetSize: [size, size], classMode: 'sparse', subset: 'training', seed: 1, workers: 1, batchSize: 8 });
let seen = 0;
for await (const { x, y } of train.epochBatches()) {
  assert.deepEqual(x.shape.slice(1), [size, size, 3]);
  seen += x.shape[0];
  x.dispose();
  y?.dispose();
}
assert.equal(seen, train.samples);
assert.equal(train.getState().epoch, 1);
step('ImageDataGenerator, flowFromDirectory');

// Training: fit with callbacks, resume from a checkpoint, evaluate, predict, trainRun.
const plain = new ImageDataGenerator({ preprocessingFunction: preprocessInput('tf') });
const trainIterator = plain.flowFromDirectory(trainDir, { targetSize: [size, size], classMode: 'sparse', seed: 1, batchSize: 8 });
const testIterator = plain.flowFromDirectory(testDir, { targetSize: [size, size], classMode: 'sparse', shuffle: false, batchSize: 8 });
const model = frozen.model;
const ckpt = join(scratch, 'ckpt');
const history = await fit(model, trainIterator, { epochs: 1, validation: testIterator, optimizer: 'adam', learningRate: 1e-3,
  loss: 'sparse_categorical_crossentropy', classWeight: 'auto', seed: 1, onProgress: () => {},
  callbacks: [new EarlyStopping({ patience: 3, restoreBestWeights: true }), new ModelCheckpoint({ dir: ckpt, everyBatches: 50 })] });
assert.equal(history.epochs.length, 1);
await fit(model, trainIterator, { epochs: 2, loss: 'sparse_categorical_crossentropy', resumeFrom: await readCheckpoint(join(ckpt, 'last.ckpt')) });
const report = await evaluate(model, testIterator);
assert.equal(report.samples, testIterator.samples);
const predictions = await predict(model, images);
assert.equal(predictions.length, 4);
const modelDir = join(scratch, 'model');
await saveModel(modelDir, model, { classNames: report.classNames, classMode: 'sparse', preprocess: 'tf', inputSize: [size, size], backbone: 'mobilenet_v2', weightsSource: 'none' });
assert.deepEqual((await loadModel(modelDir)).metadata.classNames, report.classNames);
const result = await trainRun({ dataDir: trainDir, validationSplit: 0.2, backbone: 'mobilenet_v2', inputSize: size, epochs: 1, outDir: join(scratch, 'runs', 'a') });
assert.ok(result.evaluation && result.evaluation.samples > 0);
step('fit, readCheckpoint, evaluate, predict, saveModel, loadModel, trainRun');
