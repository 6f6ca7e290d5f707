// fit: Keras's fit written out so that it owns what a resumable run needs: the optimizer's slots, the
// batch position inside an epoch, the iterator's RNG state, and the loss of a step checked for NaN
// before the step's gradients are applied. fit prepares (optimizer, callback list, a resume's
// position, the StepEngine) and hands over to the epoch loop (epoch_loop.ts). It decides no engine:
// trainRun passes its EnginePlan's training step; a caller that passes an EngineChoice instead gets it
// decided once, here at the entry, by engines/engine_decision.ts.
import { tf, type tfl } from '../../engines/tfjs/tf.js';
import { decideTrainingStep, type TrainingStepDecision } from '../../engines/engine_decision.js';
import { TrainingError, invalidArgument } from '../../core/errors.js';
import type { EngineChoice, LossName, OptimizerName, StepEngineName } from '../../core/names.js';
import { resolveLoss } from '../../core/names.js';
import type { ProgressCallback } from '../../core/progress.js';
import type { Callback } from './callbacks/callback.js';
import { callbackList, restoreCallbackStates } from './callbacks/callback_list.js';
import { restoreWeights, type TrainingCheckpoint } from './checkpoint.js';
import { resolveClassWeight } from './class_weight.js';
import { emptyAccumulators, runEpochs, trainingContext, type EpochLoop, type LoopPosition } from './epoch_loop.js';
import { createOptimizer, setLearningRate } from './optimizers.js';
import { createStepEngine } from './step_engine.js';
import { type ClassWeight, type EpochLogs, type History } from './types.js';
import type { BatchIterator } from '../../data/batch.js';

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
   * The StepEngine an EnginePlan chose (trainRun passes its plan's trainingStep): fit builds it and
   * decides nothing. Give this or `engine`, not both.
   */
  stepEngine?: StepEngineName;
  /**
   * Without `stepEngine`, decided once at fit's entry by engines/engine_decision.ts: 'tfjs' (default):
   * tf.variableGrads and a tfjs optimizer. 'onnx': the compiled ONNX training step (optimizer 'adam' or
   * 'sgd'; an error when it cannot compile the model). 'auto': the compiled step when it supports the
   * model and optimizer, else tfjs.
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

function numClassesOf(model: tfl.LayersModel): number {
  const shape = model.outputs[0].shape;
  const units = shape[shape.length - 1] ?? 1;
  return units === 1 ? 2 : units;
}

/** The StepEngine to build: the caller's plan's, or (an EngineChoice) the one decision's. */
function trainingStepOf(model: tfl.LayersModel, options: FitOptions, loss: LossName, optimizer: unknown): TrainingStepDecision {
  if (options.stepEngine !== undefined) {
    if (options.engine !== undefined) throw invalidArgument('engine', options.engine, "no engine alongside stepEngine (the step engine was already decided); pass one of them");
    if (options.stepEngine !== 'tfjs' && options.stepEngine !== 'onnx-step') throw invalidArgument('stepEngine', options.stepEngine, "'tfjs' or 'onnx-step'");
    return { engine: options.stepEngine, reason: 'the engine plan\'s training step' };
  }
  const decision = decideTrainingStep(model, options.engine ?? 'tfjs', loss, optimizer);
  if (options.engine === 'onnx' && decision.engine !== 'onnx-step') throw new TrainingError(`engine 'onnx': ${decision.reason}`);
  return decision;
}

/** Puts weights, position, iterator and callbacks where the checkpoint left them. */
async function resumeAt(resume: TrainingCheckpoint, stateModel: tfl.LayersModel, train: BatchIterator, callbacks: Callback[], at: LoopPosition): Promise<void> {
  restoreWeights(stateModel, resume.weights);
  at.epoch = resume.epoch;
  at.batch = resume.batch;
  at.acc = { ...resume.accumulators };
  at.history.length = 0;
  at.history.push(...resume.history);
  if (resume.iteratorState !== undefined && train.setState) {
    train.setState(resume.iteratorState);
  } else if (at.batch > 0) {
    // No saved iterator state: replay the epoch's first batches (exact for an unshuffled iterator).
    for (let i = 0; i < at.batch; i++) {
      const skipped = await train.next();
      tf.dispose([skipped.x, skipped.y as tf.Tensor]);
    }
  }
  restoreCallbackStates(callbacks, resume);
}

export async function fit(model: tfl.LayersModel, train: BatchIterator, options: FitOptions): Promise<FitResult> {
  const epochs = checkNonNegativeInteger('epochs', options.epochs);
  const loss = resolveLoss(options.loss);
  if (train.length < 1) throw invalidArgument('trainIterator.length', train.length, 'at least one batch per epoch');
  if (model.trainableWeights.length === 0) throw new TrainingError('the model has no trainable weights: nothing to train (is every layer frozen?)');
  const resume = options.resumeFrom;
  const optimizerName: OptimizerName | undefined = typeof options.optimizer === 'string' ? options.optimizer : options.optimizer === undefined ? 'adam' : undefined;
  const step = trainingStepOf(model, options, loss, optimizerName ?? options.optimizer);
  // A checkpoint of the other engine resumes with its optimizer state converted (optimizer_state_convert.ts).
  const resumedEngine: StepEngineName = resume?.engine ?? 'tfjs';
  const conversion = resume && resumedEngine !== step.engine ? { from: resumedEngine, to: step.engine } : undefined;
  const optimizer = createOptimizer(options.optimizer ?? 'adam', resume ? undefined : options.learningRate);
  const classWeights = resolveClassWeight(options.classWeight, train, numClassesOf(model));
  const seed = resume?.seed ?? options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const callbacks = callbackList(options.callbacks, options.onProgress && { onProgress: options.onProgress, label: options.progressLabel });
  const position: LoopPosition = { epoch: checkNonNegativeInteger('initialEpoch', options.initialEpoch ?? 0), batch: 0, acc: emptyAccumulators(), history: [...(options.initialHistory ?? [])] };
  const stateModel = options.stateModel ?? model;
  if (resume) await resumeAt(resume, stateModel, train, callbacks, position);

  // After any restore: the engine reads the model's weights (the compiled step when it compiles).
  const engine = await createStepEngine(step.engine, { model, optimizer, optimizerName, loss, classWeights, resume, onLog: options.onLog, intraOpNumThreads: options.intraOpNumThreads });
  if (resume) setLearningRate(optimizer, resume.learningRate);
  const { validation, extraLogs, tag, onProgress, progressLabel, signal, beforeValidation } = options;
  const loop: EpochLoop = { model, stateModel, train, validation, engine, optimizer, loss, callbacks, epochs, seed, position, extraLogs, tag, onProgress, progressLabel, signal, beforeValidation };
  const ctx = trainingContext(loop);
  try {
    await runEpochs(loop, ctx);
  } finally {
    // On an error (NaN step, abort) too the model gets the last good step's weights, as with tfjs; after
    // a normal end this is a no-op (synced before onTrainEnd, so EarlyStopping's restore stays).
    engine.syncToModel();
    await engine.dispose();
  }
  return { epochs: position.history, optimizer, stoppedEarly: ctx.stopTraining && position.epoch < epochs, engine: step.engine, engineReason: step.reason, optimizerStateConversion: conversion };
}
