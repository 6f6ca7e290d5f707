// fit: the training loop, Keras's fit written out so that it owns what a resumable run needs: the
// optimizer's slots, the batch position inside an epoch, the iterator's RNG state, and the loss of a
// step checked for NaN before the step's gradients are applied. The steps themselves are a step
// engine's (step_engine.ts): tfjs, or the compiled ONNX training step; fit never asks which.
import { tf, type tfl } from '../../engines/tfjs/tf.js';
import { decideStepEngine } from '../../engines/engine_decision.js';
import { DataError, TrainingError, invalidArgument } from '../../core/errors.js';
import type { EngineChoice, LossName, OptimizerName, StepEngineName } from '../../core/names.js';
import { resolveLoss } from '../../core/names.js';
import type { ProgressCallback } from '../../core/progress.js';
import { mixSeed } from '../../core/random.js';
import type { Callback, TrainingContext, BatchLogs } from './callbacks/callback.js';
import { ProgressReporter } from './callbacks/progress.js';
import { captureWeights, restoreWeights, type EpochAccumulators, type TrainingCheckpoint } from './checkpoint.js';
import { resolveClassWeight } from './class_weight.js';
import { evaluate } from '../../inference/evaluate.js';
import { createOptimizer, getLearningRate, setLearningRate } from './optimizers.js';
import { createStepEngine, type StepEngine } from './step_engine.js';
import { type ClassWeight, type EpochLogs, type History } from './types.js';
import { restOfEpoch, type BatchIterator } from '../../data/batch.js';

export interface FitOptions {
  /** Train until this many epochs are done in all (Keras: epochs counts from 0, not from initialEpoch). */
  epochs: number;
  /** Epochs already done before this call (Keras initial_epoch). */
  initialEpoch?: number;
  validation?: BatchIterator;
  optimizer?: OptimizerName | tf.Optimizer;
  learningRate?: number;
  loss: LossName | string;
  classWeight?: ClassWeight;
  callbacks?: Callback[];
  /** Shorthand for a ProgressReporter callback. */
  onProgress?: ProgressCallback;
  /** Task-name prefix of the progress bars ('fine-tune'...). */
  progressLabel?: string;
  signal?: AbortSignal;
  /** Seeds Dropout noise per step; a run with the same seed, data order and weights repeats exactly. */
  seed?: number;
  /** Continue from this checkpoint: weights, optimizer, position, iterator, callbacks and history. */
  resumeFrom?: TrainingCheckpoint;
  /** History of earlier phases, kept in front of this fit's epochs (two-phase recipe). */
  initialHistory?: EpochLogs[];
  /** Extra columns added to every epoch's logs (e.g. {phase: 2}). */
  extraLogs?: Record<string, number>;
  /** Stored in every checkpoint; trainRun keeps its phase there. */
  tag?: Record<string, unknown>;
  /**
   * The model whose weights checkpoints hold and a resume restores; default the trained model. With the
   * fast engine the trained model is only the head (fed frozen-prefix features) and this is the whole
   * classifier sharing its layers, so checkpoints stay whole-model whatever engine ran.
   */
  stateModel?: tfl.LayersModel;
  /**
   * 'tfjs' (default): tf.variableGrads and a tfjs optimizer. 'onnx': the compiled ONNX training step
   * (optimizer 'adam' or 'sgd'; an error when it cannot compile the model). 'auto': the compiled step
   * when nothing at the model's start is frozen and it supports the model, else tfjs.
   */
  engine?: EngineChoice;
  /** onnxruntime threads of the compiled step (default: all cores). */
  intraOpNumThreads?: number;
  /**
   * Called before each epoch's validation, once the model holds the epoch's weights (and before the
   * compiled step's validation predictor is exported from it): may change the model for validation and
   * return how to undo that, called right after validation, before callbacks see the epoch. trainRun
   * sets recalibrated BatchNorm statistics here. `epoch` is 1-based; `trainSeconds` is the time the
   * epoch's training steps took (data included).
   */
  beforeValidation?: (info: { epoch: number; trainSeconds: number }) => Promise<(() => void) | undefined>;
  /** One line of information: a resumed optimizer state converted between engines. */
  onLog?: (message: string) => void;
}

export interface FitResult extends History {
  optimizer: tf.Optimizer;
  /** True when a callback (EarlyStopping) ended training before `epochs`. */
  stoppedEarly: boolean;
  /** Which engine computed the steps: tfjs, or the compiled ONNX training step. */
  engine: StepEngineName;
  /** Why that engine (one line). */
  engineReason: string;
  /** Set when the resumed checkpoint was written by the other engine and its optimizer state converted. */
  optimizerStateConversion?: { from: StepEngineName; to: StepEngineName };
}

function checkNonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalidArgument(name, value, 'an integer >= 0');
  return value;
}

function emptyAccumulators(): EpochAccumulators {
  return { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
}

function numClassesOf(model: tfl.LayersModel): number {
  const shape = model.outputs[0].shape;
  const units = shape[shape.length - 1] ?? 1;
  return units === 1 ? 2 : units;
}

export async function fit(model: tfl.LayersModel, train: BatchIterator, options: FitOptions): Promise<FitResult> {
  const epochs = checkNonNegativeInteger('epochs', options.epochs);
  const loss = resolveLoss(options.loss);
  if (train.length < 1) throw invalidArgument('trainIterator.length', train.length, 'at least one batch per epoch');
  if (model.trainableWeights.length === 0) throw new TrainingError('the model has no trainable weights: nothing to train (is every layer frozen?)');
  const resume = options.resumeFrom;
  const optimizerName: OptimizerName | undefined = typeof options.optimizer === 'string' ? options.optimizer : options.optimizer === undefined ? 'adam' : undefined;
  const decision = decideStepEngine(model, options.engine ?? 'tfjs', loss, optimizerName ?? options.optimizer);
  if (options.engine === 'onnx' && decision.engine !== 'onnx-step') throw new TrainingError(`engine 'onnx': ${decision.reason}`);
  // A checkpoint of the other engine resumes with its optimizer state converted (optimizer_state_convert.ts).
  const resumedEngine: StepEngineName = resume?.engine ?? 'tfjs';
  const conversion = resume && resumedEngine !== decision.engine ? { from: resumedEngine, to: decision.engine } : undefined;
  const optimizer = createOptimizer(options.optimizer ?? 'adam', resume ? undefined : options.learningRate);
  const classWeights = resolveClassWeight(options.classWeight, train, numClassesOf(model));
  const seed = resume?.seed ?? options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const callbacks = [...(options.callbacks ?? [])];
  if (options.onProgress) callbacks.push(new ProgressReporter(options.onProgress, { label: options.progressLabel }));
  callbacks.sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
  const names = new Set<string>();
  for (const cb of callbacks) {
    if (names.has(cb.name)) throw invalidArgument('callbacks', cb.name, 'callbacks with distinct names (their state is saved under the name)');
    names.add(cb.name);
  }

  // Position: epoch in progress (0-based) and batches of it done.
  let epoch = checkNonNegativeInteger('initialEpoch', options.initialEpoch ?? 0);
  let batch = 0;
  let acc = emptyAccumulators();
  const history: EpochLogs[] = [...(options.initialHistory ?? [])];

  const stateModel = options.stateModel ?? model;
  if (resume) {
    restoreWeights(stateModel, resume.weights);
    epoch = resume.epoch;
    batch = resume.batch;
    acc = { ...resume.accumulators };
    history.length = 0;
    history.push(...resume.history);
    if (resume.iteratorState !== undefined && train.setState) {
      train.setState(resume.iteratorState);
    } else if (batch > 0) {
      // No saved iterator state: replay the epoch's first batches (exact for an unshuffled iterator).
      for (let i = 0; i < batch; i++) {
        const skipped = await train.next();
        tf.dispose([skipped.x, skipped.y as tf.Tensor]);
      }
    }
    for (const cb of callbacks) {
      const state = resume.callbacks[cb.name];
      if (state && cb.setState) cb.setState(state);
    }
  }

  // After any restore: the engine reads the model's weights (the compiled step when it compiles).
  const engine: StepEngine = await createStepEngine(decision.engine, {
    model,
    optimizer,
    optimizerName,
    loss,
    classWeights,
    resume,
    onLog: options.onLog,
    intraOpNumThreads: options.intraOpNumThreads,
  });
  if (resume) setLearningRate(optimizer, resume.learningRate);

  const ctx: TrainingContext = {
    model,
    optimizer,
    epochs,
    batchesPerEpoch: train.length,
    history,
    stopTraining: false,
    checkpoint: async (): Promise<TrainingCheckpoint> => {
      engine.syncToModel();
      const callbackStates: TrainingCheckpoint['callbacks'] = {};
      for (const cb of callbacks) if (cb.getState) callbackStates[cb.name] = await cb.getState();
      const optimizerState = await engine.optimizerState();
      return {
        epoch,
        batch,
        epochs,
        accumulators: { ...acc },
        history: history.map((h) => ({ ...h })),
        learningRate: getLearningRate(optimizer),
        optimizerClass: optimizer.getClassName(),
        engine: optimizerState.engine,
        seed,
        iteratorState: train.getState?.(),
        callbacks: callbackStates,
        tag: options.tag,
        weights: await captureWeights(stateModel),
        optimizerWeights: optimizerState.optimizerWeights,
        ...(optimizerState.optimizerLayout ? { optimizerLayout: optimizerState.optimizerLayout } : {}),
      };
    },
  };

  try {
    await trainEpochs();
  } finally {
    // On an error (NaN step, abort) too the model gets the last good step's weights, as with tfjs; after
    // a normal end this is a no-op (synced before onTrainEnd, so EarlyStopping's restore stays).
    engine.syncToModel();
    await engine.dispose();
  }
  return { epochs: history, optimizer, stoppedEarly: ctx.stopTraining && epoch < epochs, engine: decision.engine, engineReason: decision.reason, optimizerStateConversion: conversion };

  async function trainEpochs(): Promise<void> {
    for (const cb of callbacks) await cb.onTrainBegin?.(ctx);

    while (epoch < epochs && !ctx.stopTraining) {
      if (batch === 0) for (const cb of callbacks) await cb.onEpochBegin?.(epoch, ctx);
      const batches = restOfEpoch(train, batch)[Symbol.asyncIterator]();
      for (;;) {
        if (options.signal?.aborted) throw new TrainingError(`training aborted at epoch ${epoch + 1}, batch ${batch + 1}`, { cause: options.signal.reason });
        const started = performance.now();
        const item = await batches.next();
        if (item.done) break;
        const data = item.value;
        let step;
        try {
          if (!data.y) throw new TrainingError('the training iterator yields no labels (class_mode none?): fit needs y');
          step = await engine.trainBatch(data.x, data.y, { seed: mixSeed(seed, epoch, batch), learningRate: getLearningRate(optimizer), where: `epoch ${epoch + 1}, batch ${batch + 1}` });
        } finally {
          tf.dispose([data.x, data.y as tf.Tensor]);
        }
        acc.lossSum += step.loss * step.size;
        acc.correct += step.correct;
        acc.seen += step.size;
        acc.seconds += (performance.now() - started) / 1000;
        batch += 1;
        const logs: BatchLogs = {
          epoch,
          batch: batch - 1,
          batchesPerEpoch: train.length,
          loss: acc.lossSum / acc.seen,
          accuracy: acc.correct / acc.seen,
          seen: acc.seen,
          imgPerSec: acc.seen / Math.max(acc.seconds, 1e-9),
        };
        for (const cb of callbacks) await cb.onBatchEnd?.(logs, ctx);
      }

      // Every file skipped (all corrupt, or nothing to read): the epoch's metrics would be 0/0.
      if (acc.seen === 0) throw new DataError(`epoch ${epoch + 1}: no training image could be used (every file was skipped; the log lists why)`);
      const logs: EpochLogs = {
        epoch: epoch + 1,
        ...options.extraLogs,
        loss: acc.lossSum / acc.seen,
        accuracy: acc.correct / acc.seen,
      };
      // Validation, EarlyStopping and checkpoints read the tfjs model's weights.
      engine.syncToModel();
      if (options.validation) {
        // Validation shows as its own bar, never marked done: the epoch's final line replaces it.
        const onProgress = options.onProgress;
        const task = `${options.progressLabel ? `${options.progressLabel} ` : ''}epoch ${epoch + 1}/${epochs} validate`;
        const undo = await options.beforeValidation?.({ epoch: epoch + 1, trainSeconds: acc.seconds });
        let val: Awaited<ReturnType<typeof evaluate>>;
        try {
          const predictor = await engine.validationPredictor?.();
          try {
            val = await evaluate(model, options.validation, { loss, signal: options.signal, task, predictor: predictor?.predict, onProgress: onProgress && ((e) => onProgress({ ...e, done: false })) });
          } finally {
            await predictor?.dispose();
          }
        } finally {
          undo?.();
        }
        logs.val_loss = val.loss;
        logs.val_accuracy = val.accuracy;
      }
      logs.samples = acc.seen;
      logs.lr = getLearningRate(optimizer);
      logs.img_per_sec = acc.seen / Math.max(acc.seconds, 1e-9);
      logs.seconds = acc.seconds;
      history.push(logs);
      // The epoch is complete: move the position before callbacks checkpoint it.
      epoch += 1;
      batch = 0;
      acc = emptyAccumulators();
      for (const cb of callbacks) await cb.onEpochEnd?.(epoch - 1, logs, ctx);
    }

    // Before onTrainEnd: EarlyStopping may then write its best weights into the model, which must win.
    engine.syncToModel();
    for (const cb of callbacks) await cb.onTrainEnd?.(ctx);
  }
}
