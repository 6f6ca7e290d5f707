// The default recipe's head phase: `epochs: 'auto'` (early stopping on cached features, best weights
// restored; fixed epochs where features cannot be cached) and the linear probe computed from the
// features the head phase cached.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, tfl, initEngine } from '../../../src/engines/tfjs/tf.js';
import { trainRun } from '../../../src/train/run/run.js';
import { TensorIterator } from '../../helpers/tensor_iterator.js';
import { AUTO_EPOCHS_CAP, AUTO_EPOCHS_FIXED, AUTO_EPOCHS_PATIENCE, planEpochs } from '../../../src/train/run/epochs_auto.js';
import { linearProbe } from '../../../src/train/probes/linear_probe.js';
import { loadModel } from '../../../src/weights/saved_model.js';
import { UsageError } from '../../../src/core/errors.js';
import { squaresDataset } from '../helpers.js';

before(async () => {
  await initEngine();
});

test("planEpochs: 'auto' stops on val_loss only where an epoch is cheap and there is something to stop on", () => {
  assert.deepEqual(planEpochs(7, { featuresCached: true, hasValidation: true }).epochs, 7);
  const cheap = planEpochs('auto', { featuresCached: true, hasValidation: true });
  assert.equal(cheap.epochs, AUTO_EPOCHS_CAP);
  assert.deepEqual(cheap.earlyStopping, { monitor: 'val_loss', patience: AUTO_EPOCHS_PATIENCE, restoreBestWeights: true });
  for (const situation of [{ featuresCached: false, hasValidation: true }, { featuresCached: true, hasValidation: false }]) {
    const plan = planEpochs('auto', situation);
    assert.equal(plan.epochs, AUTO_EPOCHS_FIXED);
    assert.equal(plan.earlyStopping, undefined);
  }
});

test("trainRun epochs 'auto' on a frozen backbone: trains until val_loss stalls, keeps the best epoch, and fits the linear probe on the cached features", async () => {
  const data = squaresDataset(32, 31, 32);
  const val = squaresDataset(16, 32, 32);
  const outDir = await fs.mkdtemp(join(tmpdir(), 'tlkit-auto-'));
  const logs: string[] = [];
  const result = await trainRun(
    {
      train: new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1, classNames: ['bottom', 'top'] }),
      validation: new TensorIterator(val.x, val.y, { batchSize: 8, shuffle: false, classNames: ['bottom', 'top'] }),
      backbone: 'mobilenet', alpha: 0.25, weights: 'none', classMode: 'sparse', head: 'gap',
      epochs: 'auto', freezeBackbone: true, learningRate: 0.05, outDir, seed: 5, linearProbe: true,
    },
    { onLog: (m) => logs.push(m) },
  );
  assert.equal(result.engine, 'onnx-frozen');
  assert.ok(logs.some((l) => /epochs: until val_loss stops improving/.test(l)), logs.join('\n'));
  const epochs = result.history.length;
  assert.ok(epochs > AUTO_EPOCHS_PATIENCE && epochs < AUTO_EPOCHS_CAP, `${epochs} epochs`);
  assert.ok(result.stoppedEarly);
  // Best weights restored: the final evaluation scores the epoch with the lowest val_loss.
  const best = Math.min(...result.history.map((h) => h.val_loss));
  assert.ok(Math.abs(result.evaluation!.loss - best) < 1e-4, `evaluation loss ${result.evaluation!.loss} vs best val_loss ${best}`);

  // The probe saw the same pooled features as a direct computation on the saved (frozen) backbone.
  const probe = result.linearProbe!;
  assert.ok(probe, 'linear probe computed');
  assert.equal(probe.features, 256);
  assert.ok(logs.some((l) => /^linear probe: held-out accuracy/.test(l)));
  const { model } = await loadModel(outDir);
  const pooled = (x: tf.Tensor4D) =>
    tf.tidy(() => {
      const prefix = tfl.model({ inputs: model.inputs, outputs: model.getLayer('conv_pw_13_relu').output as tfl.SymbolicTensor });
      return tf.mean(prefix.predict(x) as tf.Tensor4D, [1, 2]);
    });
  const rows = async (x: tf.Tensor4D) => {
    const t = pooled(x);
    const out = { x: Float64Array.from(await t.data()), n: t.shape[0], d: t.shape[1]! };
    t.dispose();
    return out;
  };
  const direct = linearProbe(await rows(data.x), await data.y.data(), await rows(val.x), await val.y.data(), 2);
  assert.equal(probe.c, direct.c);
  assert.ok(Math.abs(probe.accuracy - direct.accuracy) <= 1 / 16 + 1e-9, `probe ${probe.accuracy} vs direct ${direct.accuracy}`);
  model.dispose();
  tf.dispose([data.x, data.y, val.x, val.y]);
});

test("trainRun epochs 'auto' where features cannot be cached (the whole model trains) runs the fixed count", async () => {
  const data = squaresDataset(8, 33, 32);
  const outDir = await fs.mkdtemp(join(tmpdir(), 'tlkit-auto-fixed-'));
  const logs: string[] = [];
  const result = await trainRun(
    {
      train: new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1 }),
      validation: new TensorIterator(data.x, data.y, { batchSize: 8, shuffle: false }),
      backbone: 'mobilenet', alpha: 0.25, weights: 'none', classMode: 'sparse', epochs: 'auto', outDir, seed: 5, engine: 'tfjs', linearProbe: true,
    },
    { onLog: (m) => logs.push(m) },
  );
  assert.equal(result.history.length, AUTO_EPOCHS_FIXED);
  assert.ok(logs.some((l) => /features cannot be cached/.test(l)));
  assert.equal(result.linearProbe, undefined, 'no frozen-backbone phase, no probe');
  tf.dispose([data.x, data.y]);
});

test("epochs must be an integer >= 0 or 'auto'", async () => {
  await assert.rejects(
    trainRun({ train: { length: 1, next: async () => ({ x: tf.zeros([1]) }), reset() {} }, backbone: 'mobilenet', epochs: 'forever' as never, outDir: join(tmpdir(), 'tlkit-bad-epochs') }),
    (e: unknown) => e instanceof UsageError && e.argument === 'epochs' && /'auto'/.test(e.message),
  );
});

test("the CLI takes --epochs auto and refuses anything else but a count, naming the flag", async () => {
  const { runCli } = await import('../../helpers/io.js');
  const bad = await runCli(['train', join(tmpdir(), 'no-such-data'), '--backbone', 'mobilenet', '--epochs', 'forever']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--epochs expects an integer >= 0 or auto; got 'forever'/);
  const { trainOptionsFromFlags } = await import('../../../src/cli/train_flags.js');
  assert.equal(trainOptionsFromFlags({ epochs: 'auto' }).epochs, 'auto');
  assert.equal(trainOptionsFromFlags({ epochs: '7' }).epochs, 7);
  assert.equal(trainOptionsFromFlags({ 'no-recalibrate-bn': true }).recalibrateBatchNorm, false);
  assert.equal(trainOptionsFromFlags({ 'no-validation-recalibration': true }).recalibrateBatchNormForValidation, false);
  assert.equal(trainOptionsFromFlags({}).recalibrateBatchNormForValidation, undefined);
});
