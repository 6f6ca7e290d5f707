import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, tfl, initEngine } from '../../../src/engines/tfjs/tf.js';
import { TrainingError } from '../../../src/core/errors.js';
import { fit } from '../../../src/train/loop/fit.js';
import { evaluate } from '../../../src/inference/evaluate.js';
import { TensorIterator } from '../../helpers/tensor_iterator.js';
import type { ProgressEvent } from '../../../src/core/progress.js';
import { ModelCheckpoint } from '../../../src/train/loop/callbacks/model_checkpoint.js';
import { readCheckpoint } from '../../../src/train/loop/checkpoint.js';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { squaresDataset, tinyConvNet, writeSquaresFolder } from '../helpers.js';
import { ImageDataGenerator } from '../../../src/data/image_data_generator.js';

before(async () => {
  await initEngine();
});

test('fit converges on a generated dataset (train accuracy >= 0.95, val accuracy >= 0.95)', async () => {
  const train = squaresDataset(64, 1);
  const val = squaresDataset(32, 2);
  const model = tinyConvNet();
  const events: ProgressEvent[] = [];
  const history = await fit(model, new TensorIterator(train.x, train.y, { batchSize: 16, seed: 3 }), {
    epochs: 12,
    loss: 'sparse_categorical_crossentropy',
    optimizer: 'adam',
    learningRate: 0.05,
    validation: new TensorIterator(val.x, val.y, { batchSize: 16, shuffle: false }),
    seed: 5,
    onProgress: (e) => events.push(e),
  });
  const last = history.epochs.at(-1)!;
  assert.equal(history.epochs.length, 12);
  assert.ok(last.accuracy >= 0.95, `train accuracy ${last.accuracy}`);
  assert.ok(last.val_accuracy >= 0.95, `val accuracy ${last.val_accuracy}`);
  assert.ok(last.val_loss < history.epochs[0].val_loss, 'val_loss went down');
  assert.ok(last.img_per_sec > 0);
  // Per-batch events carry loss/acc/img/s; each epoch ends with a done event carrying val metrics.
  const done = events.filter((e) => e.done);
  assert.equal(done.length, 12);
  assert.equal(done[0].task, 'epoch 1/12');
  assert.ok(done[0].metrics && 'val_acc' in done[0].metrics);
  const mid = events.find((e) => !e.done)!;
  assert.deepEqual(Object.keys(mid.metrics!), ['loss', 'acc', 'img/s']);
  tf.dispose([train.x, train.y, val.x, val.y]);
  model.dispose();
});

test('fit does not leak tensors across epochs', async () => {
  const data = squaresDataset(32, 4);
  const model = tinyConvNet({ units: 1, activation: 'sigmoid' });
  const it = new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1 });
  const val = new TensorIterator(data.x, data.y, { batchSize: 8, shuffle: false });
  // First epoch creates the optimizer slots; count after it.
  const optimizer = tf.train.adam(0.01);
  await fit(model, it, { epochs: 1, loss: 'binary_crossentropy', optimizer, validation: val });
  const before = tf.memory().numTensors;
  await fit(model, it, { epochs: 3, loss: 'binary_crossentropy', optimizer, validation: val, classWeight: 'auto' });
  assert.equal(tf.memory().numTensors, before);
  optimizer.dispose();
  tf.dispose([data.x, data.y]);
  model.dispose();
});

test('categorical labels and class weights train; evaluate reports per-class metrics', async () => {
  const data = squaresDataset(48, 6);
  const oneHot = tf.oneHot(tf.cast(data.y, 'int32'), 2);
  const model = tinyConvNet();
  await fit(model, new TensorIterator(data.x, oneHot, { batchSize: 16, seed: 2 }), {
    epochs: 10,
    loss: 'categorical_crossentropy',
    learningRate: 0.05,
    classWeight: { 0: 1, 1: 2 },
    seed: 1,
  });
  const ev = await evaluate(model, new TensorIterator(data.x, oneHot, { batchSize: 16, shuffle: false, classNames: ['bottom', 'top'] }));
  assert.equal(ev.samples, 48);
  assert.deepEqual(ev.classNames, ['bottom', 'top']);
  assert.equal(ev.confusionMatrix.flat().reduce((a, b) => a + b, 0), 48);
  assert.ok(ev.accuracy >= 0.9, `accuracy ${ev.accuracy}`);
  assert.equal(ev.perClass.length, 2);
  for (const c of ev.perClass) assert.equal(c.support, 24);
  const wrong = 48 - ev.confusionMatrix[0][0] - ev.confusionMatrix[1][1];
  assert.equal(ev.misclassified.length, wrong);
  for (const m of ev.misclassified) {
    assert.notEqual(m.trueClass, m.predictedClass);
    assert.ok(['bottom', 'top'].includes(m.trueClass));
    assert.ok(m.probability >= 0.5 && m.probability <= 1);
  }
  tf.dispose([data.x, data.y, oneHot]);
  model.dispose();
});

test('a NaN loss stops training with a TrainingError naming epoch and batch, weights untouched', async () => {
  // A model without ReLU: some backends' ReLU turns NaN into 0, which would hide the NaN input.
  const data = squaresDataset(16, 8);
  const bad = tf.tensor4d(new Float32Array(16 * 8 * 8 * 3).fill(NaN), [16, 8, 8, 3]);
  const x = tf.concat([data.x, bad]);
  const y = tf.concat([data.y, data.y]);
  const input = tfl.input({ shape: [8, 8, 3] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(flat) as tfl.SymbolicTensor });
  const dir = await fs.mkdtemp(join(tmpdir(), 'tlkit-nan-'));
  await assert.rejects(
    fit(model, new TensorIterator(x, y, { batchSize: 8, shuffle: false }), {
      epochs: 2, loss: 'sparse_categorical_crossentropy', seed: 1, callbacks: [new ModelCheckpoint({ dir, everyBatches: 1 })],
    }),
    (error: unknown) => error instanceof TrainingError && /loss is NaN .*at epoch 1, batch 3/.test(error.message),
  );
  // The last good checkpoint (after batch 2) is what stays on disk.
  const last = await readCheckpoint(join(dir, 'last.ckpt'));
  assert.deepEqual([last.epoch, last.batch], [0, 2]);
  assert.ok(last.weights.every((w) => w.data.every(Number.isFinite)));
  const weights = await Promise.all(model.trainableWeights.map((w) => w.read().data()));
  assert.ok(weights.every((w) => w.every(Number.isFinite)), 'no NaN reached the weights');
  tf.dispose([data.x, data.y, bad, x, y]);
  model.dispose();
});

test('NaN inputs in a convnet are caught even where ReLU or clipping hides them in the output', async () => {
  const data = squaresDataset(8, 9);
  const bad = tf.tensor4d(new Float32Array(8 * 8 * 8 * 3).fill(NaN), [8, 8, 8, 3]);
  const x = tf.concat([data.x, bad]);
  const y = tf.concat([data.y, data.y]);
  const model = tinyConvNet();
  await assert.rejects(
    fit(model, new TensorIterator(x, y, { batchSize: 8, shuffle: false }), { epochs: 1, loss: 'sparse_categorical_crossentropy', seed: 1 }),
    (error: unknown) => error instanceof TrainingError && /at epoch 1, batch 2/.test(error.message),
  );
  const weights = await Promise.all(model.trainableWeights.map((w) => w.read().data()));
  assert.ok(weights.every((w) => w.every(Number.isFinite)), 'no NaN reached the trainable weights');
  tf.dispose([data.x, data.y, bad, x, y]);
  model.dispose();
});

test('an unreadable image in the last batch does not shift batches into the next epoch', async () => {
  const root = await fs.mkdtemp(join(tmpdir(), 'tlkit-badfile-'));
  await writeSquaresFolder(root, 10, 8, 26);
  // Unshuffled, this file comes last: the epoch turns out one batch shorter than `length` first said.
  await fs.writeFile(join(root, 'top', 'zzz.png'), 'not a png');
  const warnings: string[] = [];
  const iterator = new ImageDataGenerator({ rescale: 1 / 127.5 }).flowFromDirectory(root, { targetSize: [8, 8], classMode: 'sparse', batchSize: 5, shuffle: false, onWarning: (m) => warnings.push(m) });
  assert.equal(iterator.length, 3);
  const model = tinyConvNet();
  const history = await fit(model, iterator, { epochs: 2, loss: 'sparse_categorical_crossentropy', seed: 1 });
  assert.deepEqual(history.epochs.map((h) => h.samples), [10, 10]);
  assert.ok(warnings.some((w) => /zzz\.png/.test(w)));
  await iterator.close();
  model.dispose();
});

test("fit trains on the StepEngine it is given and decides nothing; an EngineChoice beside it is refused", async () => {
  const data = squaresDataset(16, 7);
  const model = tinyConvNet();
  const iterator = () => new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1 });
  // Left to decide, fit's default choice would be tfjs: the plan's onnx-step wins.
  const given = await fit(model, iterator(), { epochs: 1, loss: 'sparse_categorical_crossentropy', optimizer: 'adam', stepEngine: 'onnx-step' });
  given.optimizer.dispose();
  assert.equal(given.engine, 'onnx-step');
  assert.equal(given.engineReason, "the engine plan's training step");
  const decided = await fit(model, iterator(), { epochs: 1, loss: 'sparse_categorical_crossentropy', optimizer: 'adam', engine: 'auto' });
  decided.optimizer.dispose();
  assert.deepEqual([decided.engine, decided.engineReason], ['onnx-step', 'the compiled ONNX training step supports this model']);
  await assert.rejects(
    fit(model, iterator(), { epochs: 1, loss: 'sparse_categorical_crossentropy', stepEngine: 'tfjs', engine: 'tfjs' }),
    (e: Error) => e.name === 'UsageError' && /engine/.test(e.message),
  );
  tf.dispose([data.x, data.y]);
  model.dispose();
});
