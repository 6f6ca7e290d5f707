// trainRun's BatchNorm recalibration around a phase that trains BatchNorm in training mode (from random
// weights): per-epoch validation with recalibrated statistics (training itself unchanged), its cost
// guard, and a run killed during the end-of-phase recalibration that recalibrates when resumed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initEngine } from '../../../src/engines/tfjs/tf.js';
import { TensorIterator } from '../../helpers/tensor_iterator.js';
import { trainRun, type TrainRunOptions, type TrainRunResult } from '../../../src/train/run/run.js';
import { readCheckpoint } from '../../../src/train/loop/checkpoint.js';
import { runDirLayout } from '../../../src/train/run/run_dir.js';
import { savedWeightsDiff, squaresDataset, writeSquaresFolder } from '../helpers.js';

let root: string;
let data: { x: tf.Tensor4D; y: tf.Tensor1D };
let val: { x: tf.Tensor4D; y: tf.Tensor1D };

before(async () => {
  await initEngine();
  root = await fs.mkdtemp(join(tmpdir(), 'tlkit-valrecal-'));
  data = squaresDataset(48, 41, 32);
  val = squaresDataset(32, 42, 32);
});

after(async () => {
  tf.dispose([data.x, data.y, val.x, val.y]);
  await fs.rm(root, { recursive: true, force: true });
});

type Run = { result: TrainRunResult; logs: string[]; outDir: string };

async function run(name: string, extra: Partial<TrainRunOptions>, hooks: { abortAtRecalibration?: boolean } = {}): Promise<Run> {
  const logs: string[] = [];
  const outDir = join(root, name);
  const controller = new AbortController();
  const result = await trainRun(
    {
      train: new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1 }),
      validation: new TensorIterator(val.x, val.y, { batchSize: 8, shuffle: false }),
      backbone: 'mobilenet', alpha: 0.25, weights: 'none', classMode: 'sparse', head: 'gap', epochs: 3, learningRate: 0.01,
      outDir, seed: 9, engine: 'tfjs', signal: controller.signal, ...extra,
    },
    {
      onLog: (m) => logs.push(m),
      // The end-of-phase recalibration reports progress (the pass before validation does not).
      onProgress: (e) => {
        if (hooks.abortAtRecalibration && e.task === 'recalibrate BatchNorm') controller.abort();
      },
    },
  );
  return { result, logs, outDir };
}

let off: Run;
let on: Run;

test('per-epoch validation uses recalibrated BatchNorm statistics; training, checkpoints and the final model are unchanged by it', { timeout: 120_000 }, async () => {
  off = await run('off', { recalibrateBatchNormForValidation: false });
  on = await run('on', { recalibrateBatchNormForValidation: { maxSamples: 16, maxCostFraction: 1000 } });
  const line = on.logs.filter((l) => /^validation: BatchNorm statistics recalibrated on \d+ training images before each validation/.test(l));
  assert.equal(line.length, 1, on.logs.join('\n'));
  assert.match(line[0], /recalibrated on 16 training images/);
  assert.ok(!off.logs.some((l) => /^validation: BatchNorm/.test(l)), off.logs.join('\n'));
  // Training normalises with batch statistics: the same losses, step for step.
  assert.deepEqual(on.result.history.map((h) => h.loss), off.result.history.map((h) => h.loss));
  assert.deepEqual(on.result.history.map((h) => h.accuracy), off.result.history.map((h) => h.accuracy));
  // Validation judged the weights: with the lagging moving averages the untrained-looking 0.5 stays.
  const stale = off.result.history.map((h) => h.val_accuracy!);
  const fresh = on.result.history.map((h) => h.val_accuracy!);
  assert.ok(fresh.at(-1)! >= stale.at(-1)! + 0.2, `epoch val_accuracy without ${stale} with ${fresh}`);
  assert.ok(Math.abs(fresh.at(-1)! - on.result.evaluation!.accuracy) <= 0.15, `last epoch ${fresh.at(-1)} vs evaluation after full recalibration ${on.result.evaluation!.accuracy}`);
  // The moving averages are put back after validation: the checkpoint holds what it holds without it.
  const ckOn = await readCheckpoint(runDirLayout(on.outDir).lastCheckpoint);
  const ckOff = await readCheckpoint(runDirLayout(off.outDir).lastCheckpoint);
  assert.equal(ckOn.weights.length, ckOff.weights.length);
  ckOn.weights.forEach((w, i) => assert.deepEqual(w.data, ckOff.weights[i].data, w.name));
  assert.equal(await savedWeightsDiff(on.outDir, off.outDir), 0);
});

test("engine 'tfjs' means tfjs for every pass: one plan per phase says so, and both BatchNorm recalibrations ran on tfjs", () => {
  for (const { result, logs } of [off, on]) {
    assert.deepEqual(result.enginePlans, [{ choice: 'tfjs', trainingStep: 'tfjs', validation: 'tfjs', recalibration: 'tfjs', inference: 'tfjs', reasons: ['tfjs requested'] }]);
    assert.deepEqual(logs.filter((l) => /^engine/.test(l)), ['engine: tfjs: every pass on tfjs (tfjs requested)']);
    // The end-of-phase recalibration once ran on onnxruntime whatever the run's engine.
    assert.equal(result.batchNormRecalibration.length, 1);
    assert.equal(result.batchNormRecalibration[0].engine, 'tfjs');
    const after = logs.filter((l) => /^BatchNorm: recalibrated/.test(l));
    assert.equal(after.length, 1, logs.join('\n'));
    assert.match(after[0], / s on tfjs$/);
  }
  // ...and so did the pass before each validation.
  const before = on.logs.filter((l) => /^validation: BatchNorm statistics recalibrated/.test(l));
  assert.equal(before.length, 1, on.logs.join('\n'));
  assert.match(before[0], / s on tfjs; epoch 1 /);
});

test('on the compiled ONNX step too: its validation predictor, exported after the pass, validates with the recalibrated statistics', { timeout: 120_000 }, async () => {
  const compiled = await run('compiled', { engine: 'auto', recalibrateBatchNormForValidation: { maxSamples: 16, maxCostFraction: 1000 } });
  assert.equal(compiled.result.stepEngines[0], 'onnx-step', compiled.logs.filter((l) => /^engine/.test(l)).join('; '));
  // 'auto' keeps every pass it can on onnxruntime: the plan says so and the recalibration ran there.
  assert.deepEqual([compiled.result.enginePlans[0].validation, compiled.result.enginePlans[0].recalibration], ['onnxruntime', 'onnxruntime']);
  assert.equal(compiled.result.batchNormRecalibration[0].engine, 'onnx');
  const stale = off.result.history.at(-1)!.val_accuracy!;
  const fresh = compiled.result.history.at(-1)!.val_accuracy!;
  assert.ok(fresh >= stale + 0.2, `last epoch val_accuracy: tfjs without ${stale}, onnx-step with ${fresh}`);
  assert.ok(Math.abs(fresh - compiled.result.evaluation!.accuracy) <= 0.15, `last epoch ${fresh} vs evaluation ${compiled.result.evaluation!.accuracy}`);
});

test('cost guard: a first pass over budget turns the per-epoch recalibration off for the phase, that epoch included, and says why once', { timeout: 60_000 }, async () => {
  const guarded = await run('guarded', { recalibrateBatchNormForValidation: { maxSamples: 16, maxCostFraction: 0, cheapSeconds: 0 } });
  const lines = guarded.logs.filter((l) => /^validation: BatchNorm/.test(l));
  assert.equal(lines.length, 1, guarded.logs.join('\n'));
  assert.match(lines[0], /not recalibrated before validation in this phase: a pass over 16 training images took \d+\.\d s, more than 0 s and 0% of epoch 1's \d+\.\d s of training/);
  // Every epoch (the first too) validated with the moving averages, as with the feature off.
  assert.deepEqual(guarded.result.history.map((h) => [h.val_loss, h.val_accuracy]), off.result.history.map((h) => [h.val_loss, h.val_accuracy]));
  assert.equal(guarded.result.batchNormRecalibration.length, 1);
});

test('a run killed during the end-of-phase recalibration recalibrates when resumed, ending as the uninterrupted run', { timeout: 60_000 }, async () => {
  const options = { recalibrateBatchNormForValidation: { maxSamples: 16, maxCostFraction: 1000 } };
  await assert.rejects(run('killed', options, { abortAtRecalibration: true }), /BatchNorm recalibration aborted/);
  const checkpoint = await readCheckpoint(runDirLayout(join(root, 'killed')).lastCheckpoint);
  assert.equal(checkpoint.epoch, 3);
  assert.equal(checkpoint.tag?.phase, 1);
  const resumed = await run('killed', { ...options, resume: true });
  assert.equal(resumed.result.batchNormRecalibration.length, 1);
  assert.ok(resumed.logs.some((l) => /^BatchNorm: recalibrated the moving statistics of \d+ layers/.test(l)), resumed.logs.join('\n'));
  assert.deepEqual(resumed.result.history.map((h) => h.epoch), [1, 2, 3]);
  assert.equal(resumed.result.evaluation!.accuracy, on.result.evaluation!.accuracy);
  assert.equal(await savedWeightsDiff(resumed.outDir, on.outDir), 0);
});

test('an augmented training folder: both recalibrations read a fresh un-augmented reader of it, on the plan\'s runtime', { timeout: 120_000 }, async () => {
  const dataDir = join(root, 'folder');
  await writeSquaresFolder(dataDir, 24, 32, 43);
  const logs: string[] = [];
  const result = await trainRun(
    {
      dataDir, validationSplit: 0.25, augmentation: { horizontalFlip: true }, workers: 0,
      backbone: 'mobilenet', alpha: 0.25, weights: 'none', inputSize: 32, classMode: 'sparse', head: 'gap', epochs: 1, batchSize: 4, learningRate: 0.01,
      outDir: join(root, 'folder-run'), seed: 3, engine: 'tfjs', recalibrateBatchNormForValidation: { maxSamples: 8, maxCostFraction: 1000 },
    },
    { onLog: (m) => logs.push(m) },
  );
  // The whole training subset (3 of 4 images of each class), once, un-augmented.
  assert.deepEqual(result.batchNormRecalibration.map((r) => [r.samples, r.engine]), [[18, 'tfjs']], logs.join('\n'));
  assert.ok(logs.some((l) => /^validation: BatchNorm statistics recalibrated on 8 training images before each validation \(\d+\.\d s on tfjs;/.test(l)), logs.join('\n'));
});
