import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initEngine } from '../../../src/engines/tfjs/tf.js';
import { EarlyStopping } from '../../../src/train/loop/callbacks/early_stopping.js';
import { ReduceLROnPlateau } from '../../../src/train/loop/callbacks/reduce_lr_on_plateau.js';
import { historyToCsv } from '../../../src/train/loop/callbacks/history_logger.js';
import type { TrainingContext } from '../../../src/train/loop/callbacks/callback.js';
import type { EpochLogs } from '../../../src/train/loop/types.js';
import { tinyConvNet, weightsOf } from '../helpers.js';

before(async () => {
  await initEngine();
});

function fakeContext(model = tinyConvNet(), optimizer: tf.Optimizer = tf.train.adam(0.1)): TrainingContext & { history: EpochLogs[] } {
  const history: EpochLogs[] = [];
  return { model, optimizer, epochs: 10, batchesPerEpoch: 1, history, stopTraining: false, checkpoint: async () => { throw new Error('unused'); } };
}

async function runEpochs(cb: { onEpochEnd?: Function }, ctx: ReturnType<typeof fakeContext>, values: number[], key = 'val_loss', onEach?: (i: number) => void): Promise<number> {
  for (let i = 0; i < values.length && !ctx.stopTraining; i++) {
    onEach?.(i);
    const logs: EpochLogs = { epoch: i + 1, loss: 1, [key]: values[i] };
    ctx.history.push(logs);
    await cb.onEpochEnd!.call(cb, i, logs, ctx);
  }
  return ctx.history.length;
}

test('EarlyStopping stops after `patience` epochs without improvement and restores the best weights', async () => {
  const ctx = fakeContext();
  const es = new EarlyStopping({ patience: 2, restoreBestWeights: true });
  // Change the weights every epoch so "best" is recognisable: fill with the epoch index.
  const epochsRun = await runEpochs(es, ctx, [1.0, 0.5, 0.6, 0.7, 0.4, 0.3], 'val_loss', (i) => ctx.model.weights.forEach((w) => w.write(tf.fill(w.shape as number[], i))));
  assert.equal(epochsRun, 4, 'stops at epoch 4: epochs 3 and 4 did not beat epoch 2');
  assert.equal(es.stoppedEpoch, 3);
  assert.equal(es.bestEpochNumber, 2);
  es.onTrainEnd(ctx);
  const w = await weightsOf(ctx.model);
  assert.ok(w.every((a) => a.every((v) => v === 1)), 'weights of epoch 2 (filled with 1) are back');
  // Its state survives a resume: a resumed run that had stopped stays stopped.
  const again = new EarlyStopping({ patience: 2 });
  again.setState(es.getState());
  const ctx2 = fakeContext();
  again.onTrainBegin(ctx2);
  assert.equal(ctx2.stopTraining, true);
});

test('EarlyStopping in max mode for accuracy, and minDelta', async () => {
  const ctx = fakeContext();
  const es = new EarlyStopping({ monitor: 'val_accuracy', patience: 1, minDelta: 0.05 });
  assert.equal(await runEpochs(es, ctx, [0.5, 0.6, 0.62, 0.9], 'val_accuracy'), 3);
});

test('ReduceLROnPlateau divides the learning rate after patience epochs, honours cooldown and minLr', async () => {
  const optimizer = tf.train.sgd(1);
  const ctx = fakeContext(undefined, optimizer);
  const cb = new ReduceLROnPlateau({ patience: 2, factor: 0.5, cooldown: 1, minLr: 0.2 });
  const lrs: number[] = [];
  const values = [1, 1, 1, 1, 1, 1, 1, 1];
  for (let i = 0; i < values.length; i++) {
    cb.onEpochEnd(i, { epoch: i + 1, val_loss: values[i] }, ctx);
    lrs.push((optimizer as unknown as { learningRate: number }).learningRate);
  }
  // Keras's counting: the cooldown epoch is decremented and then already counts as a waiting epoch.
  assert.deepEqual(lrs, [1, 1, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]);
});

test('history CSV has one header and one row per epoch, blank for missing metrics', () => {
  const csv = historyToCsv([{ epoch: 1, loss: 0.5 }, { epoch: 2, loss: 0.25, val_loss: 0.3 }]);
  assert.equal(csv, 'epoch,loss,val_loss\n1,0.5,\n2,0.25,0.3\n');
});
