// fit and trainRun on the compiled ONNX training step: same numbers as the tfjs engine, callbacks,
// exact resume from its checkpoints, and trainRun recording the engine.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, tfl, initEngine } from '../../../src/engines/tfjs/tf.js';
import { TrainingError } from '../../../src/core/errors.js';
import { TensorIterator } from '../../helpers/tensor_iterator.js';
import type { Callback, TrainingContext } from '../../../src/train/loop/callbacks/callback.js';
import { EarlyStopping } from '../../../src/train/loop/callbacks/early_stopping.js';
import { ModelCheckpoint } from '../../../src/train/loop/callbacks/model_checkpoint.js';
import { ReduceLROnPlateau } from '../../../src/train/loop/callbacks/reduce_lr_on_plateau.js';
import { captureWeights, readCheckpoint } from '../../../src/train/loop/checkpoint.js';
import { fit, type FitOptions } from '../../../src/train/loop/fit.js';
import { trainRun } from '../../../src/train/run/run.js';
import { maxAbsDiff, savedWeightsDiff, squaresDataset, weightsOf, writeSquaresFolder } from '../helpers.js';

before(async () => {
  await initEngine();
});

/**
 * Conv -> BN -> ReLU -> GAP -> Dense softmax, seeded; no Dropout (its masks differ between engines by
 * design) and no conv bias (before BN its true gradient is 0, and Adam turns each engine's rounding
 * noise there into full-size steps of different sign).
 */
function smallNet(seed = 5): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3] });
  let h = tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed }) }).apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.batchNormalization().apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.activation({ activation: 'relu' }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

const data = () => squaresDataset(24, 31, 8);

async function runFit(engine: 'tfjs' | 'onnx', options: Partial<FitOptions> & { epochs: number }) {
  const model = smallNet();
  const { x, y } = data();
  const result = await fit(model, new TensorIterator(x, y, { batchSize: 8, seed: 4 }), { loss: 'sparse_categorical_crossentropy', seed: 1, intraOpNumThreads: 1, ...options, engine });
  result.optimizer.dispose();
  const weights = await weightsOf(model);
  model.dispose();
  tf.dispose([x, y]);
  return { result, weights };
}

for (const optimizer of ['sgd', 'adam'] as const) {
  test(`fit with engine 'onnx' (${optimizer}) matches the tfjs engine: losses, accuracy and weights after 3 steps`, async () => {
    const learningRate = optimizer === 'sgd' ? 0.1 : 0.01;
    // Validation on the same data: with the compiled step it runs on onnxruntime (the synced weights).
    const validation = () => {
      const { x, y } = data();
      return new TensorIterator(x, y, { batchSize: 16, shuffle: false });
    };
    const reference = await runFit('tfjs', { epochs: 1, optimizer, learningRate, classWeight: { 0: 1, 1: 2 }, validation: validation() });
    const onnx = await runFit('onnx', { epochs: 1, optimizer, learningRate, classWeight: { 0: 1, 1: 2 }, validation: validation() });
    assert.equal(reference.result.engine, 'tfjs');
    assert.equal(onnx.result.engine, 'onnx-step');
    const [a, b] = [reference.result.epochs[0], onnx.result.epochs[0]];
    assert.ok(Math.abs(a.loss - b.loss) < 1e-4, `loss ${a.loss} vs ${b.loss}`);
    assert.equal(a.accuracy, b.accuracy);
    assert.ok(Math.abs(a.val_loss! - b.val_loss!) < 1e-4, `val_loss ${a.val_loss} vs ${b.val_loss}`);
    assert.equal(a.val_accuracy, b.val_accuracy);
    assert.equal(b.samples, 24);
    assert.ok(b.img_per_sec > 0);
    const diff = maxAbsDiff(reference.weights, onnx.weights);
    assert.ok(diff < 1e-4, `weights (with BatchNorm statistics) differ by ${diff}`);
  });
}

test("ReduceLROnPlateau changes the compiled step's learning rate (weights follow the tfjs run's)", async () => {
  // minDelta 100: no epoch after the first counts as an improvement, so epoch 3 runs at half the rate.
  const callbacks = () => [new ReduceLROnPlateau({ monitor: 'loss', patience: 1, factor: 0.5, minDelta: 100 })];
  const reference = await runFit('tfjs', { epochs: 3, optimizer: 'sgd', learningRate: 0.2, callbacks: callbacks() });
  const onnx = await runFit('onnx', { epochs: 3, optimizer: 'sgd', learningRate: 0.2, callbacks: callbacks() });
  assert.deepEqual(onnx.result.epochs.map((e) => e.lr), [0.2, 0.2, 0.1]);
  const diff = maxAbsDiff(reference.weights, onnx.weights);
  assert.ok(diff < 1e-4, `weights differ by ${diff} (the step kept its old learning rate?)`);
});

test('EarlyStopping with restoreBestWeights ends with the best epoch’s weights (synced from the compiled step)', async () => {
  const perEpoch: Float32Array[][] = [];
  const recorder: Callback = {
    name: 'recorder',
    order: -1,
    async onEpochEnd(_epoch: number, _logs: unknown, ctx: TrainingContext) {
      perEpoch.push((await captureWeights(ctx.model)).map((w) => Float32Array.from(w.data)));
    },
  };
  // minDelta 100: only the first epoch improves; patience 1 stops after epoch 2 and restores epoch 1.
  const onnx = await runFit('onnx', { epochs: 5, optimizer: 'adam', learningRate: 0.01, callbacks: [recorder, new EarlyStopping({ monitor: 'loss', patience: 1, minDelta: 100, restoreBestWeights: true })] });
  assert.equal(onnx.result.stoppedEarly, true);
  assert.equal(onnx.result.epochs.length, 2);
  assert.ok(maxAbsDiff(perEpoch[0], perEpoch[1]) > 1e-4, 'epoch 2 changed the weights');
  assert.ok(maxAbsDiff(onnx.weights, perEpoch[0]) === 0, 'the best (first) epoch’s weights are back');
});

test('fit on the compiled step interrupted mid-epoch and resumed from its checkpoint ends with the uninterrupted weights', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'tlkit-onnx-resume-'));
  const options = { epochs: 2, optimizer: 'adam' as const, learningRate: 0.01 };
  const full = await runFit('onnx', options);

  const controller = new AbortController();
  const stopper: Callback = {
    name: 'stopper',
    onBatchEnd(logs) {
      if (logs.epoch === 1 && logs.batch === 0) controller.abort();
    },
  };
  await assert.rejects(
    runFit('onnx', { ...options, signal: controller.signal, callbacks: [stopper, new ModelCheckpoint({ dir, monitor: 'loss', everyBatches: 1 })] }),
    (e: unknown) => e instanceof TrainingError && /aborted at epoch 2, batch 2/.test(e.message),
  );
  const checkpoint = await readCheckpoint(join(dir, 'last.ckpt'));
  assert.equal(checkpoint.engine, 'onnx-step');
  assert.deepEqual([checkpoint.epoch, checkpoint.batch], [1, 1]);
  const resumed = await runFit('onnx', { ...options, resumeFrom: checkpoint });
  assert.deepEqual(resumed.result.epochs.map((e) => e.epoch), [1, 2]);
  const diff = maxAbsDiff(full.weights, resumed.weights);
  assert.ok(diff < 1e-5, `weights differ by ${diff}`);
  assert.ok(Math.abs(full.result.epochs[1].loss - resumed.result.epochs[1].loss) < 1e-6);
  assert.equal(resumed.result.optimizerStateConversion, undefined, 'same engine: the state is used as saved');
  // Resuming it on the tfjs engine converts the optimizer state: test/train/loop/optimizer_state_convert.test.ts.
});

test('a non-finite step on the compiled step stops fit naming epoch and batch; the model keeps the last good weights', async () => {
  const { x, y } = data();
  const values = x.arraySync() as number[][][][];
  values[9][0][0][0] = Number.NaN; // second batch (unshuffled, batch size 8)
  const poisoned = tf.tensor4d(values);
  const model = smallNet();
  await assert.rejects(
    fit(model, new TensorIterator(poisoned, y, { batchSize: 8, shuffle: false }), { epochs: 1, loss: 'sparse_categorical_crossentropy', optimizer: 'sgd', learningRate: 0.1, engine: 'onnx', intraOpNumThreads: 1 }),
    (e: unknown) => e instanceof TrainingError && /non-finite.*epoch 1, batch 2/.test(e.message),
  );
  const oneStep = smallNet();
  const first = { x: tf.slice(x, 0, 8), y: tf.slice(y, 0, 8) };
  const r = await fit(oneStep, new TensorIterator(first.x, first.y, { batchSize: 8, shuffle: false }), { epochs: 1, loss: 'sparse_categorical_crossentropy', optimizer: 'sgd', learningRate: 0.1, engine: 'onnx', intraOpNumThreads: 1 });
  r.optimizer.dispose();
  assert.equal(maxAbsDiff(await weightsOf(model), await weightsOf(oneStep)), 0);
  model.dispose();
  oneStep.dispose();
  tf.dispose([x, y, poisoned, first.x, first.y]);
});

test("fit with engine 'onnx' refuses what the compiled step cannot train, naming why", async () => {
  await assert.rejects(runFit('onnx', { epochs: 1, optimizer: 'rmsprop' }), (e: unknown) => e instanceof TrainingError && /rmsprop/.test(e.message));
});

test("trainRun with engine 'onnx' trains the whole model on the compiled step and records it", async () => {
  const root = await fs.mkdtemp(join(tmpdir(), 'tlkit-onnx-run-'));
  await writeSquaresFolder(join(root, 'data'), 16, 32, 41);
  const logs: string[] = [];
  const result = await trainRun(
    {
      dataDir: join(root, 'data'), validationSplit: 0.25, backbone: 'mobilenet', alpha: 0.25, weights: 'none', inputSize: 32,
      classMode: 'sparse', head: 'gap', epochs: 1, batchSize: 4, learningRate: 0.01, seed: 5, engine: 'onnx', outDir: join(root, 'run'),
    },
    { onLog: (m) => logs.push(m) },
  );
  assert.equal(result.engine, 'onnx-step');
  assert.deepEqual(result.phaseEngines, ['onnx-step']);
  assert.equal(logs.filter((l) => l.startsWith('engine:')).length, 1);
  assert.ok(logs.some((l) => /^engine: onnx-step/.test(l)));
  // The fixed cost before the first batch, for the CLI to print.
  assert.ok(logs.some((l) => /^compiled training step ready in \d+\.\d s \(compiled-graph cache (hit|miss|off)\)$/.test(l)), logs.join('\n'));
  assert.equal(result.history.length, 1);
  assert.ok(Number.isFinite(result.history[0].loss) && Number.isFinite(result.history[0].val_loss));
  const last = await readCheckpoint(join(result.runDir, 'checkpoints', 'last.ckpt'));
  assert.equal(last.engine, 'onnx-step');
});

test('trainRun on the compiled step interrupted mid-epoch and resumed (dropout, shuffled folder data) ends with the uninterrupted weights', async () => {
  const root = await fs.mkdtemp(join(tmpdir(), 'tlkit-onnx-run-resume-'));
  await writeSquaresFolder(join(root, 'data'), 24, 32, 43);
  const options = {
    dataDir: join(root, 'data'), validationSplit: 0.25, backbone: 'mobilenet', alpha: 0.25, weights: 'none', inputSize: 32,
    classMode: 'sparse' as const, head: 'gap,dropout:0.3', epochs: 2, batchSize: 4, learningRate: 0.01, seed: 12, engine: 'auto' as const,
    checkpointEveryBatches: 1,
  };
  const full = await trainRun({ ...options, outDir: join(root, 'full') });
  assert.equal(full.engine, 'onnx-step', "'auto' picks the compiled step when the whole model trains");
  const controller = new AbortController();
  const onProgress = (e: { task: string; current: number }) => {
    if (e.task === 'epoch 2/2' && e.current === 2) controller.abort();
  };
  await assert.rejects(trainRun({ ...options, outDir: join(root, 'cut'), signal: controller.signal }, { onProgress }), (e: unknown) => e instanceof TrainingError && /aborted at epoch 2, batch 3/.test(e.message));
  const resumed = await trainRun({ ...options, outDir: join(root, 'cut'), resume: true });
  assert.equal(resumed.engine, 'onnx-step');
  assert.deepEqual(resumed.history.map((h) => h.epoch), [1, 2]);
  const diff = await savedWeightsDiff(join(root, 'full'), join(root, 'cut'));
  assert.ok(diff < 1e-5, `weights differ by ${diff}`);
});
