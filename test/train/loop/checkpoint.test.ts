import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initEngine } from '../../../src/engines/tfjs/tf.js';
import { FileError, TrainingError } from '../../../src/core/errors.js';
import { fit } from '../../../src/train/loop/fit.js';
import { TensorIterator } from '../../helpers/tensor_iterator.js';
import { ModelCheckpoint } from '../../../src/train/loop/callbacks/model_checkpoint.js';
import { HistoryLogger } from '../../../src/train/loop/callbacks/history_logger.js';
import { EarlyStopping } from '../../../src/train/loop/callbacks/early_stopping.js';
import type { Callback } from '../../../src/train/loop/callbacks/callback.js';
import { readCheckpoint, writeCheckpoint, captureWeights, type TrainingCheckpoint } from '../../../src/train/loop/checkpoint.js';
import type { AtomicWriteFs } from '../../../src/core/atomic_write.js';
import { maxAbsDiff, squaresDataset, tinyConvNet, weightsOf } from '../helpers.js';

before(async () => {
  await initEngine();
});

async function tempDir(): Promise<string> {
  return fs.mkdtemp(join(tmpdir(), 'tlkit-ckpt-'));
}

test('resume from a mid-epoch checkpoint ends with the same weights and history as an uninterrupted run', async () => {
  const data = squaresDataset(40, 11);
  const val = squaresDataset(16, 12);
  const options = (dir: string) => ({
    epochs: 3,
    loss: 'sparse_categorical_crossentropy',
    optimizer: 'adam' as const,
    learningRate: 0.02,
    seed: 9,
    validation: new TensorIterator(val.x, val.y, { batchSize: 8, shuffle: false }),
    callbacks: [new ModelCheckpoint({ dir, everyBatches: 1 }), new EarlyStopping({ patience: 5 })] as Callback[],
  });

  const dirA = await tempDir();
  const modelA = tinyConvNet();
  const full = await fit(modelA, new TensorIterator(data.x, data.y, { batchSize: 8, seed: 4 }), options(dirA));

  // Same run, interrupted after batch 2 of epoch 2.
  const dirB = await tempDir();
  const modelB = tinyConvNet();
  const controller = new AbortController();
  const interrupter: Callback = { name: 'interrupter', onBatchEnd: (logs) => void (logs.epoch === 1 && logs.batch === 1 && controller.abort()) };
  const first = options(dirB);
  await assert.rejects(
    fit(modelB, new TensorIterator(data.x, data.y, { batchSize: 8, seed: 4 }), { ...first, signal: controller.signal, callbacks: [...first.callbacks, interrupter] }),
    (e: unknown) => e instanceof TrainingError && /aborted at epoch 2, batch 3/.test(e.message),
  );
  const checkpoint = await readCheckpoint(join(dirB, 'last.ckpt'));
  assert.equal(checkpoint.epoch, 1);
  assert.equal(checkpoint.batch, 2);
  assert.equal(checkpoint.history.length, 1);

  // A differently initialised model, a fresh iterator and optimizer: everything comes from the checkpoint.
  const modelC = tinyConvNet({ seed: 99 });
  const resumed = await fit(modelC, new TensorIterator(data.x, data.y, { batchSize: 8, seed: 4 }), { ...options(dirB), resumeFrom: checkpoint });

  const diff = maxAbsDiff(await weightsOf(modelA), await weightsOf(modelC));
  assert.ok(diff < 1e-5, `weights differ by ${diff}`);
  assert.equal(resumed.epochs.length, 3);
  assert.deepEqual(resumed.epochs.map((e) => e.epoch), [1, 2, 3]);
  full.epochs.forEach((e, i) => {
    assert.ok(Math.abs(e.loss - resumed.epochs[i].loss) < 1e-5, `epoch ${i + 1} loss ${e.loss} vs ${resumed.epochs[i].loss}`);
    assert.ok(Math.abs(e.val_loss - resumed.epochs[i].val_loss) < 1e-5);
  });
  tf.dispose([data.x, data.y, val.x, val.y]);
  [modelA, modelB, modelC].forEach((m) => m.dispose());
});

function failingFs(failAfterBytes: number): AtomicWriteFs {
  return {
    open: (async (path: string, flags: string) => {
      const handle = await fs.open(path, flags);
      let written = 0;
      const write = handle.write.bind(handle) as (b: Uint8Array, o: number, l: number) => Promise<{ bytesWritten: number }>;
      (handle as unknown as { write: unknown }).write = async (buffer: Uint8Array, offset: number, length: number) => {
        if (written + length > failAfterBytes) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        written += length;
        return write(buffer, offset, length);
      };
      return handle;
    }) as AtomicWriteFs['open'],
    rename: fs.rename,
    rm: fs.rm,
  };
}

test('a checkpoint write that fails (disk full) throws a clear error and leaves the previous checkpoint intact', async () => {
  const dir = await tempDir();
  const model = tinyConvNet();
  const path = join(dir, 'last.ckpt');
  const good: TrainingCheckpoint = {
    epoch: 1, batch: 0, epochs: 2, accumulators: { lossSum: 0, correct: 0, seen: 0, seconds: 0 }, history: [{ epoch: 1, loss: 0.5 }],
    learningRate: 0.01, optimizerClass: 'Adam', seed: 1, callbacks: {}, weights: await captureWeights(model), optimizerWeights: [],
  };
  await writeCheckpoint(path, good);
  const before = await fs.readFile(path);
  await assert.rejects(writeCheckpoint(path, { ...good, epoch: 2 }, failingFs(1000)), (e: unknown) => e instanceof FileError && /no space left on the device/.test(e.message) && /previous version .* unchanged/.test(e.message));
  assert.deepEqual(await fs.readFile(path), before);
  assert.deepEqual(await fs.readdir(dir), ['last.ckpt'], 'the temporary file is removed');
  assert.equal((await readCheckpoint(path)).epoch, 1);
  model.dispose();
});

test('an epoch that is the best writes its checkpoint once: last.ckpt is a link to best.ckpt until a later epoch replaces it', async () => {
  const dir = await tempDir();
  const model = tinyConvNet();
  const base: TrainingCheckpoint = {
    epoch: 1, batch: 0, epochs: 3, accumulators: { lossSum: 0, correct: 0, seen: 0, seconds: 0 }, history: [],
    learningRate: 0.01, optimizerClass: 'Adam', seed: 1, callbacks: {}, weights: await captureWeights(model), optimizerWeights: [],
  };
  const callback = new ModelCheckpoint({ dir, monitor: 'val_loss' });
  await callback.onTrainBegin();
  const epochEnd = (epoch: number, valLoss: number) =>
    callback.onEpochEnd(epoch, { epoch: epoch + 1, loss: 1, val_loss: valLoss }, { checkpoint: async () => ({ ...base, epoch: epoch + 1 }) } as never);
  await epochEnd(0, 0.5);
  const [best, last] = await Promise.all([fs.stat(callback.bestPath), fs.stat(callback.lastPath)]);
  assert.equal(last.ino, best.ino, 'one file under two names');
  assert.equal(best.nlink, 2);
  assert.equal((await readCheckpoint(callback.lastPath)).epoch, 1);
  // Not the best: last is written on its own, best keeps epoch 1.
  await epochEnd(1, 0.7);
  assert.notEqual((await fs.stat(callback.lastPath)).ino, (await fs.stat(callback.bestPath)).ino);
  assert.equal((await readCheckpoint(callback.lastPath)).epoch, 2);
  assert.equal((await readCheckpoint(callback.bestPath)).epoch, 1);
  assert.equal((await fs.stat(callback.bestPath)).nlink, 1);
  await epochEnd(2, 0.4);
  assert.equal((await readCheckpoint(callback.lastPath)).epoch, 3);
  assert.equal((await readCheckpoint(callback.bestPath)).epoch, 3);
  assert.deepEqual((await fs.readdir(dir)).sort(), ['best.ckpt', 'last.ckpt'], 'no temporary file is left');
  model.dispose();
});

test('fit into an unwritable checkpoint directory fails with a FileError naming the path', async () => {
  const dir = await tempDir();
  const file = join(dir, 'not-a-directory');
  await fs.writeFile(file, 'x');
  const data = squaresDataset(8, 3);
  const model = tinyConvNet();
  await assert.rejects(
    fit(model, new TensorIterator(data.x, data.y, { batchSize: 8 }), { epochs: 1, loss: 'sparse_categorical_crossentropy', callbacks: [new ModelCheckpoint({ dir: join(file, 'run') })] }),
    (e: unknown) => e instanceof FileError && e.message.includes(join(file, 'run')) && /not a directory|parent of this path is a file|does not exist/.test(e.message),
  );
  tf.dispose([data.x, data.y]);
  model.dispose();
});

test('a truncated checkpoint file is refused with a clear error', async () => {
  const dir = await tempDir();
  const model = tinyConvNet();
  const path = join(dir, 'x.ckpt');
  await writeCheckpoint(path, {
    epoch: 0, batch: 0, epochs: 1, accumulators: { lossSum: 0, correct: 0, seen: 0, seconds: 0 }, history: [],
    learningRate: 0.01, optimizerClass: 'Adam', seed: 1, callbacks: {}, weights: await captureWeights(model), optimizerWeights: [],
  });
  const bytes = await fs.readFile(path);
  await fs.writeFile(path, bytes.subarray(0, bytes.length - 10));
  await assert.rejects(readCheckpoint(path), (e: unknown) => e instanceof FileError && /not a readable tlkit checkpoint/.test(e.message));
  model.dispose();
});

test('history logger writes each epoch once, also across a resume', async () => {
  const dir = await tempDir();
  const data = squaresDataset(16, 5);
  const model = tinyConvNet();
  const first = await fit(model, new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1 }), {
    epochs: 2, loss: 'sparse_categorical_crossentropy', seed: 1, callbacks: [new ModelCheckpoint({ dir }), new HistoryLogger({ dir })],
  });
  assert.equal(first.epochs.length, 2);
  const checkpoint = await readCheckpoint(join(dir, 'last.ckpt'));
  await fit(model, new TensorIterator(data.x, data.y, { batchSize: 8, seed: 1 }), {
    epochs: 4, loss: 'sparse_categorical_crossentropy', resumeFrom: checkpoint, callbacks: [new ModelCheckpoint({ dir }), new HistoryLogger({ dir })],
  });
  const csv = (await fs.readFile(join(dir, 'history.csv'), 'utf8')).trim().split('\n');
  assert.equal(csv[0].split(',')[0], 'epoch');
  assert.deepEqual(csv.slice(1).map((l) => l.split(',')[0]), ['1', '2', '3', '4']);
  const json = JSON.parse(await fs.readFile(join(dir, 'history.json'), 'utf8'));
  assert.deepEqual(json.epochs.map((e: { epoch: number }) => e.epoch), [1, 2, 3, 4]);
  tf.dispose([data.x, data.y]);
  model.dispose();
});
