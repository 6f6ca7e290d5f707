// fit's epoch loop, Keras's epoch iterator written out: batches through the StepEngine, running means
// for the callbacks, the loss of a step checked for NaN by the engine before its update, validation at
// the end of each epoch, and the position (epoch, batch, sums) a checkpoint records. It knows nothing
// of which engine it drives.
import { tf, type tfl } from '../../engines/tfjs/tf.js';
import { DataError, TrainingError } from '../../core/errors.js';
import type { LossName } from '../../core/names.js';
import type { ProgressCallback } from '../../core/progress.js';
import { mixSeed } from '../../core/random.js';
import { evaluate } from '../../inference/evaluate.js';
import { restOfEpoch, type BatchIterator } from '../../data/batch.js';
import type { BatchLogs, Callback, TrainingContext } from './callbacks/callback.js';
import { callbackStates } from './callbacks/callback_list.js';
import { captureWeights, type EpochAccumulators, type TrainingCheckpoint } from './checkpoint.js';
import { getLearningRate } from './optimizers.js';
import type { StepEngine } from './step_engine.js';
import type { EpochLogs } from './types.js';

export function emptyAccumulators(): EpochAccumulators {
  return { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
}

/** Where training stands: the epoch in progress (0-based), batches of it done, its sums, and the finished epochs. */
export interface LoopPosition {
  epoch: number;
  batch: number;
  acc: EpochAccumulators;
  history: EpochLogs[];
}

/** Everything the loop drives, prepared by fit. */
export interface EpochLoop {
  model: tfl.LayersModel;
  /** The model whose weights checkpoints hold (the whole classifier when `model` is its head). */
  stateModel: tfl.LayersModel;
  train: BatchIterator;
  validation?: BatchIterator;
  engine: StepEngine;
  optimizer: tf.Optimizer;
  loss: LossName;
  callbacks: Callback[];
  /** Train until this many epochs are done in all. */
  epochs: number;
  seed: number;
  position: LoopPosition;
  extraLogs?: Record<string, number>;
  tag?: Record<string, unknown>;
  onProgress?: ProgressCallback;
  progressLabel?: string;
  signal?: AbortSignal;
  beforeValidation?: (info: { epoch: number; trainSeconds: number }) => Promise<(() => void) | undefined>;
}

/** The callbacks' view of the loop, with the checkpoint of its current state. */
export function trainingContext(loop: EpochLoop): TrainingContext {
  const { position: at, engine, optimizer } = loop;
  return {
    model: loop.model,
    optimizer,
    epochs: loop.epochs,
    batchesPerEpoch: loop.train.length,
    history: at.history,
    stopTraining: false,
    checkpoint: async (): Promise<TrainingCheckpoint> => {
      engine.syncToModel();
      const callbacks = await callbackStates(loop.callbacks);
      const optimizerState = await engine.optimizerState();
      return {
        epoch: at.epoch,
        batch: at.batch,
        epochs: loop.epochs,
        accumulators: { ...at.acc },
        history: at.history.map((h) => ({ ...h })),
        learningRate: getLearningRate(optimizer),
        optimizerClass: optimizer.getClassName(),
        engine: optimizerState.engine,
        seed: loop.seed,
        iteratorState: loop.train.getState?.(),
        callbacks,
        tag: loop.tag,
        weights: await captureWeights(loop.stateModel),
        optimizerWeights: optimizerState.optimizerWeights,
        ...(optimizerState.optimizerLayout ? { optimizerLayout: optimizerState.optimizerLayout } : {}),
      };
    },
  };
}

/** Runs the epochs left (from the position), callbacks around them. */
export async function runEpochs(loop: EpochLoop, ctx: TrainingContext): Promise<void> {
  const { callbacks, position: at } = loop;
  for (const cb of callbacks) await cb.onTrainBegin?.(ctx);
  while (at.epoch < loop.epochs && !ctx.stopTraining) {
    if (at.batch === 0) for (const cb of callbacks) await cb.onEpochBegin?.(at.epoch, ctx);
    await trainRestOfEpoch(loop, ctx);
    // Every file skipped (all corrupt, or nothing to read): the epoch's metrics would be 0/0.
    if (at.acc.seen === 0) throw new DataError(`epoch ${at.epoch + 1}: no training image could be used (every file was skipped; the log lists why)`);
    const logs: EpochLogs = { epoch: at.epoch + 1, ...loop.extraLogs, loss: at.acc.lossSum / at.acc.seen, accuracy: at.acc.correct / at.acc.seen };
    // Validation, EarlyStopping and checkpoints read the tfjs model's weights.
    loop.engine.syncToModel();
    if (loop.validation) Object.assign(logs, await validateEpoch(loop, loop.validation));
    logs.samples = at.acc.seen;
    logs.lr = getLearningRate(loop.optimizer);
    logs.img_per_sec = at.acc.seen / Math.max(at.acc.seconds, 1e-9);
    logs.seconds = at.acc.seconds;
    at.history.push(logs);
    // The epoch is complete: move the position before callbacks checkpoint it.
    at.epoch += 1;
    at.batch = 0;
    at.acc = emptyAccumulators();
    for (const cb of callbacks) await cb.onEpochEnd?.(at.epoch - 1, logs, ctx);
  }
  // Before onTrainEnd: EarlyStopping may then write its best weights into the model, which must win.
  loop.engine.syncToModel();
  for (const cb of callbacks) await cb.onTrainEnd?.(ctx);
}

async function trainRestOfEpoch(loop: EpochLoop, ctx: TrainingContext): Promise<void> {
  const at = loop.position;
  const batches = restOfEpoch(loop.train, at.batch)[Symbol.asyncIterator]();
  for (;;) {
    if (loop.signal?.aborted) throw new TrainingError(`training aborted at epoch ${at.epoch + 1}, batch ${at.batch + 1}`, { cause: loop.signal.reason });
    const started = performance.now();
    const item = await batches.next();
    if (item.done) return;
    const data = item.value;
    let step;
    try {
      if (!data.y) throw new TrainingError('the training iterator yields no labels (class_mode none?): fit needs y');
      step = await loop.engine.trainBatch(data.x, data.y, { seed: mixSeed(loop.seed, at.epoch, at.batch), learningRate: getLearningRate(loop.optimizer), where: `epoch ${at.epoch + 1}, batch ${at.batch + 1}` });
    } finally {
      tf.dispose([data.x, data.y as tf.Tensor]);
    }
    at.acc.lossSum += step.loss * step.size;
    at.acc.correct += step.correct;
    at.acc.seen += step.size;
    at.acc.seconds += (performance.now() - started) / 1000;
    at.batch += 1;
    const logs: BatchLogs = {
      epoch: at.epoch,
      batch: at.batch - 1,
      batchesPerEpoch: loop.train.length,
      loss: at.acc.lossSum / at.acc.seen,
      accuracy: at.acc.correct / at.acc.seen,
      seen: at.acc.seen,
      imgPerSec: at.acc.seen / Math.max(at.acc.seconds, 1e-9),
    };
    for (const cb of loop.callbacks) await cb.onBatchEnd?.(logs, ctx);
  }
}

/** The epoch's val_loss / val_accuracy, on the StepEngine's predictor when it has one (else tfjs). */
async function validateEpoch(loop: EpochLoop, validation: BatchIterator): Promise<{ val_loss: number; val_accuracy: number }> {
  const at = loop.position;
  // Validation shows as its own bar, never marked done: the epoch's final line replaces it.
  const onProgress = loop.onProgress;
  const task = `${loop.progressLabel ? `${loop.progressLabel} ` : ''}epoch ${at.epoch + 1}/${loop.epochs} validate`;
  const undo = await loop.beforeValidation?.({ epoch: at.epoch + 1, trainSeconds: at.acc.seconds });
  try {
    const predictor = await loop.engine.validationPredictor?.();
    try {
      const val = await evaluate(loop.model, validation, { loss: loop.loss, signal: loop.signal, task, predictor: predictor?.predict, onProgress: onProgress && ((e) => onProgress({ ...e, epoch: at.epoch + 1, epochs: loop.epochs, done: false })) });
      return { val_loss: val.loss, val_accuracy: val.accuracy };
    } finally {
      await predictor?.dispose();
    }
  } finally {
    undo?.();
  }
}
