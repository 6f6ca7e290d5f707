import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initEngine } from '../../../src/engines/tfjs/tf.js';
import { trainRun } from '../../../src/train/run/run.js';
import { TensorIterator } from '../../helpers/tensor_iterator.js';
import { readCheckpoint } from '../../../src/train/loop/checkpoint.js';
import { runDirLayout } from '../../../src/train/run/run_dir.js';
import { loadModel } from '../../../src/weights/saved_model.js';
import { savedWeightsDiff, squaresDataset, writeSquaresFolder } from '../helpers.js';
import { TrainingError } from '../../../src/core/errors.js';

before(async () => {
  await initEngine();
});

test('trainRun: two-phase recipe on a small MobileNet fills a run directory whose every file loads', async () => {
  const data = squaresDataset(16, 21, 32);
  const val = squaresDataset(8, 22, 32);
  const outDir = await fs.mkdtemp(join(tmpdir(), 'tlkit-run-'));
  const logs: string[] = [];
  const result = await trainRun(
    {
      train: new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1, classNames: ['bottom', 'top'] }),
      validation: new TensorIterator(val.x, val.y, { batchSize: 8, shuffle: false, classNames: ['bottom', 'top'] }),
      backbone: 'mobilenet',
      alpha: 0.25,
      weights: 'none',
      classMode: 'sparse',
      head: 'gap,dense:8:relu',
      epochs: 1,
      fineTuneEpochs: 1,
      fineTuneFrom: 'conv_pw_13',
      learningRate: 0.01,
      outDir,
      seed: 3,
    },
    { onLog: (m) => logs.push(m) },
  );
  assert.equal(result.history.length, 2);
  assert.deepEqual(result.history.map((h) => h.phase), [1, 2]);
  assert.deepEqual(result.classNames, ['bottom', 'top']);
  // Both phases have frozen first layers (the whole backbone, then everything before conv_pw_13).
  assert.equal(result.engine, 'onnx-frozen');
  assert.deepEqual(result.phaseEngines, ['onnx-frozen', 'onnx-frozen']);
  assert.ok(result.params.total > result.params.trainable);
  assert.ok(logs.some((l) => /phase 2 \(fine-tune\)/.test(l)));
  assert.equal(result.history[1].lr, 0.001, 'fine-tune rate defaults to lr / 10');

  const layout = runDirLayout(outDir);
  const { model, metadata } = await loadModel(outDir);
  assert.deepEqual(metadata.classNames, ['bottom', 'top']);
  assert.deepEqual(model.outputs[0].shape, [null, 2]);
  const last = await readCheckpoint(layout.lastCheckpoint);
  assert.equal(last.epoch, 2);
  assert.equal(last.tag?.phase, 2);
  await readCheckpoint(layout.bestCheckpoint);
  const config = JSON.parse(await fs.readFile(layout.config, 'utf8'));
  assert.equal(config.backbone, 'mobilenet');
  assert.equal(config.seed, 3);
  assert.equal(JSON.parse(await fs.readFile(layout.historyJson, 'utf8')).epochs.length, 2);
  assert.equal((await fs.readFile(layout.historyCsv, 'utf8')).trim().split('\n').length, 3);
  assert.match(await fs.readFile(layout.summary, 'utf8'), /Total params/);
  const evaluation = JSON.parse(await fs.readFile(layout.evaluation, 'utf8'));
  assert.equal(evaluation.samples, 8);
  model.dispose();
  tf.dispose([data.x, data.y, val.x, val.y]);
});

test('trainRun with a frozen backbone: the onnx-frozen engine and the tfjs engine train the same model', async () => {
  const data = squaresDataset(24, 23, 32);
  const val = squaresDataset(8, 24, 32);
  const run = async (engine: 'tfjs' | 'auto') => {
    const outDir = await fs.mkdtemp(join(tmpdir(), `tlkit-engine-${engine}-`));
    return trainRun({
      train: new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1 }),
      validation: new TensorIterator(val.x, val.y, { batchSize: 8, shuffle: false }),
      backbone: 'mobilenet', alpha: 0.25, weights: 'none', classMode: 'sparse', head: 'gap,dropout:0.25',
      epochs: 3, freezeBackbone: true, learningRate: 0.05, outDir, seed: 8, engine,
    });
  };
  const reference = await run('tfjs');
  const fast = await run('auto');
  assert.equal(reference.engine, 'tfjs');
  assert.equal(fast.engine, 'onnx-frozen');
  reference.history.forEach((h, i) => {
    assert.ok(Math.abs(h.loss - fast.history[i].loss) < 1e-3, `epoch ${i + 1} loss ${h.loss} vs ${fast.history[i].loss}`);
    assert.ok(Math.abs(h.val_loss - fast.history[i].val_loss) < 1e-3, `epoch ${i + 1} val_loss ${h.val_loss} vs ${fast.history[i].val_loss}`);
  });
  // The final evaluation runs where validation ran: onnxruntime under 'auto', and agrees with tfjs.
  assert.equal(fast.enginePlans.at(-1)?.inference, 'onnxruntime');
  assert.equal(reference.enginePlans.at(-1)?.inference, 'tfjs');
  assert.ok(Math.abs(reference.evaluation!.loss - fast.evaluation!.loss) < 1e-3);
  assert.equal(fast.evaluation!.accuracy, fast.history.at(-1)!.val_accuracy, 'the evaluation is the last validation pass');
  tf.dispose([data.x, data.y, val.x, val.y]);
});

test("trainRun with classMode 'binary': one sigmoid unit, binary cross-entropy, a model that loads; no tensor leaks", async () => {
  const data = squaresDataset(16, 25, 32);
  const before = tf.memory().numTensors;
  const outDir = await fs.mkdtemp(join(tmpdir(), 'tlkit-binary-'));
  const result = await trainRun({
    train: new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1, classNames: ['bottom', 'top'] }),
    validation: new TensorIterator(data.x, data.y, { batchSize: 8, shuffle: false, classNames: ['bottom', 'top'] }),
    backbone: 'mobilenet', alpha: 0.25, weights: 'none', classMode: 'binary', epochs: 1, freezeBackbone: true, outDir, seed: 2,
  });
  assert.equal(result.evaluation!.samples, 16);
  assert.equal(tf.memory().numTensors, before, 'trainRun frees its tensors');
  const { model, metadata } = await loadModel(outDir);
  assert.equal(metadata.classMode, 'binary');
  assert.deepEqual(model.outputs[0].shape, [null, 1]);
  model.dispose();
  tf.dispose([data.x, data.y]);
});

test('trainRun interrupted mid-epoch and resumed (augmented folder data, dropout) ends with the weights of an uninterrupted run', async () => {
  const root = await fs.mkdtemp(join(tmpdir(), 'tlkit-resume-run-'));
  await writeSquaresFolder(join(root, 'data'), 24, 32, 27);
  const options = {
    dataDir: join(root, 'data'), validationSplit: 0.25, backbone: 'mobilenet', alpha: 0.25, weights: 'none', inputSize: 32,
    classMode: 'sparse' as const, head: 'gap,dropout:0.3', epochs: 2, batchSize: 4, learningRate: 0.01, seed: 11, engine: 'tfjs' as const,
    augmentation: { horizontalFlip: true, rotationRange: 15 }, checkpointEveryBatches: 1,
  };
  await trainRun({ ...options, outDir: join(root, 'full') });

  const controller = new AbortController();
  const onProgress = (e: { task: string; current: number }) => {
    if (e.task === 'epoch 2/2' && e.current === 2) controller.abort();
  };
  await assert.rejects(trainRun({ ...options, outDir: join(root, 'cut'), signal: controller.signal }, { onProgress }), (e: unknown) => e instanceof TrainingError && /aborted at epoch 2, batch 3/.test(e.message));
  const resumed = await trainRun({ ...options, outDir: join(root, 'cut'), resume: true });
  assert.deepEqual(resumed.history.map((h) => h.epoch), [1, 2]);

  const diff = await savedWeightsDiff(join(root, 'full'), join(root, 'cut'));
  assert.ok(diff < 1e-5, `weights differ by ${diff}`);
});
