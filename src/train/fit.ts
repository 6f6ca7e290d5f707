// fit: the training loop. Written out (rather than LayersModel.fit) so that it owns what a resumable
// run needs: the optimizer's slots, the batch position inside an epoch, the iterator's RNG state, and
// the loss of a step checked for NaN before the step's gradients are applied.
import { tf, type tfl } from '../engines/tfjs/tf.js';
import { DataError, TrainingError, invalidArgument } from '../core/errors.js';
import type { ProgressCallback } from '../core/progress.js';
import type { Callback, TrainingContext, BatchLogs } from './callbacks/callback.js';
import { ProgressReporter } from './callbacks/progress.js';
import { captureWeights, restoreWeights, type EpochAccumulators, type TrainingCheckpoint } from './checkpoint.js';
import { resolveClassWeight } from './class_weight.js';
import { createOnnxPredictor, type OnnxPredictor } from '../engines/onnx/predictor.js';
import { evaluate } from './evaluate.js';
import { batchLoss, predictedClasses, trueClasses } from './losses.js';
import { resolveLoss } from '../core/names.js';
import { createOptimizer, getLearningRate, loadOptimizerState, saveOptimizerState, setLearningRate, type SavedArray } from './optimizers.js';
import { compiledStepLayout, decideEngine, OnnxStepEngine, type EngineOptimizerState, type FitEngineChoice, type StepEngineName } from './onnx_step_engine.js';
import { convertibleOptimizerOf, describeConversion, flatStateFromSaved, flatToTfjsState, trainableWeightInfos, type ConvertibleOptimizer } from './optimizer_state_convert.js';
import { mixSeed, withSeededMathRandom } from '../core/random.js';
import { restOfEpoch, type BatchIterator, type ClassWeight, type EpochLogs, type History } from './types.js';
import { type LossName, type OptimizerName } from '../core/names.js';

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
  engine?: FitEngineChoice;
  /** onnxruntime threads of the compiled step (default: all cores). */
  intraOpNumThreads?: number;
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

function checkPositiveInteger(name: string, value: unknown): number {
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
  const epochs = checkPositiveInteger('epochs', options.epochs);
  const loss = resolveLoss(options.loss);
  if (train.length < 1) throw invalidArgument('trainIterator.length', train.length, 'at least one batch per epoch');
  const resume = options.resumeFrom;
  const decision = decideEngine(model, options.engine ?? 'tfjs', loss, options.optimizer ?? 'adam');
  if (options.engine === 'onnx' && decision.engine !== 'onnx-step') throw new TrainingError(`engine 'onnx': ${decision.reason}`);
  // A checkpoint of the other engine resumes with its optimizer state converted (optimizer_state_convert.ts).
  const resumedEngine: StepEngineName = resume?.engine ?? 'tfjs';
  const conversion = resume && resumedEngine !== decision.engine ? { from: resumedEngine, to: decision.engine } : undefined;
  const optimizer = createOptimizer(options.optimizer ?? 'adam', resume ? undefined : options.learningRate);
  const convertedOptimizer = conversion ? convertibleOptimizerFor(optimizer, resume!.optimizerClass, conversion.from) : undefined;
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
  let epoch = checkPositiveInteger('initialEpoch', options.initialEpoch ?? 0);
  let batch = 0;
  let acc = emptyAccumulators();
  const history: EpochLogs[] = [...(options.initialHistory ?? [])];

  const stateModel = options.stateModel ?? model;
  if (resume) {
    restoreWeights(stateModel, resume.weights);
    if (decision.engine === 'tfjs' && conversion) await loadOptimizerState(optimizer, onnxStepStateForTfjs(model, loss, resume, convertedOptimizer!, options.onLog));
    else if (decision.engine === 'tfjs') await loadOptimizerState(optimizer, resume.optimizerWeights);
    setLearningRate(optimizer, resume.learningRate);
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

  // Variables in model order: the optimizer matches its slots to them by position (see optimizers.ts).
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (variables.length === 0) throw new TrainingError('the model has no trainable weights: nothing to train (is every layer frozen?)');
  // The compiled step reads the model's weights when it compiles (first batch), so after any resume restore.
  const onnxStep =
    decision.engine === 'onnx-step'
      ? new OnnxStepEngine(model, {
          loss,
          optimizer: options.optimizer as 'adam' | 'sgd',
          learningRate: getLearningRate(optimizer),
          resumeState: resume?.optimizerWeights,
          resumeEngine: resumedEngine,
          resumeLayout: resume?.optimizerLayout,
          onLog: options.onLog,
          intraOpNumThreads: options.intraOpNumThreads,
        })
      : undefined;

  const ctx: TrainingContext = {
    model,
    optimizer,
    epochs,
    batchesPerEpoch: train.length,
    history,
    stopTraining: false,
    checkpoint: async (): Promise<TrainingCheckpoint> => {
      onnxStep?.syncToModel();
      const callbackStates: TrainingCheckpoint['callbacks'] = {};
      for (const cb of callbacks) if (cb.getState) callbackStates[cb.name] = await cb.getState();
      const optimizerState: EngineOptimizerState = onnxStep ? onnxStep.optimizerState() : { engine: 'tfjs', optimizerWeights: await saveOptimizerState(optimizer) };
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
    onnxStep?.syncToModel();
    await onnxStep?.dispose();
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
        let stepLoss: number;
        let stepCorrect: number;
        let size: number;
        try {
          if (!data.y) throw new TrainingError('the training iterator yields no labels (class_mode none?): fit needs y');
          const stepSeed = mixSeed(seed, epoch, batch);
          ({ loss: stepLoss, correct: stepCorrect, size } = onnxStep
            ? await onnxStep.trainBatch(data.x, data.y, classWeights, getLearningRate(optimizer), stepSeed, `epoch ${epoch + 1}, batch ${batch + 1}`)
            : trainStep(model, optimizer, variables, loss, data.x, data.y, classWeights, stepSeed, epoch, batch));
        } finally {
          tf.dispose([data.x, data.y as tf.Tensor]);
        }
        acc.lossSum += stepLoss * size;
        acc.correct += stepCorrect;
        acc.seen += size;
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
      onnxStep?.syncToModel();
      if (options.validation) {
        // Validation shows as its own bar, never marked done: the epoch's final line replaces it.
        const onProgress = options.onProgress;
        const task = `${options.progressLabel ? `${options.progressLabel} ` : ''}epoch ${epoch + 1}/${epochs} validate`;
        // With the compiled step the epoch's weights also validate on onnxruntime (exported once per
        // epoch): several times faster than the tfjs forward on wasm for full-size backbones.
        const predictor = onnxStep ? await validationPredictor(model, options.onLog) : undefined;
        let val: Awaited<ReturnType<typeof evaluate>>;
        try {
          val = await evaluate(model, options.validation, { loss, signal: options.signal, task, predictor: predictor?.predict, onProgress: onProgress && ((e) => onProgress({ ...e, done: false })) });
        } finally {
          await predictor?.dispose();
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
    onnxStep?.syncToModel();
    for (const cb of callbacks) await cb.onTrainEnd?.(ctx);
  }
}

/**
 * The optimizer whose state a conversion carries: the same kind must have written the checkpoint (its
 * tfjs class name is stored in both engines' checkpoints).
 */
function convertibleOptimizerFor(optimizer: tf.Optimizer, checkpointClass: string, from: StepEngineName): ConvertibleOptimizer {
  const kind = convertibleOptimizerOf(optimizer.getClassName());
  if (!kind) throw new TrainingError(`the checkpoint was written by the ${from} engine; its optimizer state cannot be converted for a ${optimizer.getClassName()} optimizer (convertible: Adam, SGD, Momentum)`);
  if (convertibleOptimizerOf(checkpointClass) !== kind) {
    throw new TrainingError(`the checkpoint's optimizer is ${checkpointClass} but this fit uses ${optimizer.getClassName()}: its state cannot be carried over`);
  }
  return kind;
}

/**
 * An onnx-step checkpoint's flat slots as tfjs optimizer weights for `model`. The layout comes from the
 * checkpoint; older checkpoints lack it, and then the model's training graph gives it (when it compiles).
 */
function onnxStepStateForTfjs(model: tfl.LayersModel, loss: LossName, resume: TrainingCheckpoint, optimizer: ConvertibleOptimizer, onLog?: (message: string) => void): SavedArray[] {
  let layout = resume.optimizerLayout;
  if (!layout) {
    try {
      layout = compiledStepLayout(model, loss);
    } catch (error) {
      throw new TrainingError(`the checkpoint was written by the compiled ONNX step without its slot layout (an older tlkit), and the layout cannot be rebuilt for this model: ${(error as Error).message}; resume it with engine 'onnx'`, { cause: error });
    }
  }
  const weights = trainableWeightInfos(model);
  const state = flatStateFromSaved(resume.optimizerWeights);
  const saved = flatToTfjsState(state, optimizer, layout, weights);
  onLog?.(describeConversion('onnx-step', 'tfjs', optimizer, state.iterations, weights.length));
  return saved;
}

/**
 * One step: forward in training mode, loss (+ regularisers), gradients, a NaN/Inf check, then the
 * update. Everything but the returned numbers is disposed.
 */
function trainStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  loss: LossName,
  x: tf.Tensor,
  y: tf.Tensor,
  classWeights: number[] | undefined,
  stepSeed: number,
  epoch: number,
  batch: number,
): { loss: number; correct: number; size: number } {
  let output: tf.Tensor | undefined;
  let weights: tf.Tensor1D | undefined;
  let value: tf.Scalar | undefined;
  let grads: tf.NamedTensorMap | undefined;
  try {
    if (classWeights) {
      weights = tf.tidy(() => tf.gather(tf.tensor1d(classWeights, 'float32'), trueClasses(loss, y)));
    }
    ({ value, grads } = withSeededMathRandom(stepSeed, () =>
      tf.variableGrads(() => {
        output = tf.keep(model.apply(x, { training: true }) as tf.Tensor);
        let total = batchLoss(loss, y, output, weights);
        for (const regulariser of model.calculateLosses()) total = tf.add(total, regulariser);
        return total;
      }, variables),
    ));
    const lossValue = value.dataSync()[0];
    // The loss clips probabilities and some backends' clip or ReLU turn NaN into a number, so check the
    // output and the gradients too (a sum is not finite when any element is NaN or infinite).
    const [outputSum, gradientSumOfSquares] = tf.tidy(() => [
      tf.sum(output!).dataSync()[0],
      tf.addN(Object.values(grads!).map((g) => tf.sum(tf.square(g)))).dataSync()[0],
    ]);
    if (!Number.isFinite(lossValue) || !Number.isFinite(outputSum) || !Number.isFinite(gradientSumOfSquares)) {
      const what = !Number.isFinite(lossValue) ? `loss is ${lossValue}` : !Number.isFinite(outputSum) ? 'loss is NaN (the model output is not finite)' : `loss is ${lossValue} but the gradients are not finite`;
      throw new TrainingError(`${what} at epoch ${epoch + 1}, batch ${batch + 1}: training stopped before applying this step (try a lower learning rate, or look for broken input images)`);
    }
    optimizer.applyGradients(grads);
    const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(predictedClasses(output!), trueClasses(loss, y)), 'int32')).dataSync()[0]);
    return { loss: lossValue, correct, size: x.shape[0] };
  } finally {
    tf.dispose([output as tf.Tensor, weights as tf.Tensor, value as tf.Tensor]);
    if (grads) tf.dispose(Object.values(grads));
  }
}

/** An onnxruntime predictor of the model as it is now, or undefined (validation then runs on tfjs). */
async function validationPredictor(model: tfl.LayersModel, onLog?: (message: string) => void): Promise<OnnxPredictor | undefined> {
  try {
    return await createOnnxPredictor(model);
  } catch (error) {
    onLog?.(`validation: on tfjs (the model could not run on onnxruntime: ${error instanceof Error ? error.message : String(error)})`);
    return undefined;
  }
}
