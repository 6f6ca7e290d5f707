// trainRun's use of BatchNorm recalibration: after a phase that trained BatchNorm layers in training
// mode, one pass over un-augmented training batches (the phase's cached features when it had them, a
// fresh un-augmented reader of the training folder, which the run opens for it, otherwise), on the
// runtime of the phase's EnginePlan, without disturbing the run's own
// iterator (its position and shuffling stay as the checkpoint recorded them). And, during such a phase,
// a bounded pass before each validation, so that per-epoch val_loss / val_accuracy (and what judges
// epochs by them: EarlyStopping, best.ckpt, --epochs auto) describe the weights rather than moving
// averages that lag behind them.
import type { FrozenEngine } from '../../engines/onnx/frozen_features.js';
import type { Runtime } from '../../engines/engine_decision.js';
import type { tfl } from '../../engines/tfjs/tf.js';
import type { ProgressCallback } from '../../core/progress.js';
import { FeatureIterator } from '../loop/feature_iterator.js';
import { batchNormTrainedInTrainingMode, recalibrateBatchNorm, saveMovingStatistics, type RecalibrationResult } from './recalibrate_batchnorm.js';
import type { FitOptions } from '../loop/fit.js';
import { isDeterministic, type BatchIterator } from '../../data/batch.js';

export interface PhaseRecalibration extends RecalibrationResult {
  phase: number;
}

export interface RecalibrateAfterPhaseArgs {
  phase: number;
  /** The part the phase trained: the frozen prefix's head, or the whole classifier. */
  model: tfl.LayersModel;
  /** The phase's frozen prefix on onnxruntime: then only its head (the trainable rest) can hold trained BatchNorm. */
  frozen?: FrozenEngine;
  /** Where the statistics passes run: the phase's EnginePlan's `recalibration`. */
  runsOn: Runtime;
  /** The phase's training iterator (features when `frozen` is set). */
  phaseTrain: BatchIterator;
  /**
   * Opens a fresh un-augmented reader of the training images (the run's scaling, no workers), used when
   * the phase's own iterator is augmented; undefined when there is no folder to read again.
   */
  openUnaugmentedTrain?: () => { train: BatchIterator; close(): Promise<void> };
  enabled: boolean;
  log: (message: string) => void;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/** Un-augmented training batches to recalibrate on, and how to leave everything as it was. */
interface RecalibrationData {
  /** Runs one pass over `data`: on the phase's own iterator, its position and RNG state are put back after. */
  pass<T>(run: (data: BatchIterator) => Promise<T>): Promise<T>;
  /** Closes the reader opened for the purpose (none when the phase's own iterator served). */
  close(): Promise<void>;
}

/**
 * The phase's own training iterator when it is deterministic (un-augmented: its batches are what
 * recalibration wants), else a fresh un-augmented reader of the training folder (workers 0, the
 * run's rescale), turned into features when the phase has a frozen prefix; undefined when neither.
 */
function openRecalibrationData(a: RecalibrateAfterPhaseArgs, cacheFeatures: boolean): RecalibrationData | undefined {
  if (isDeterministic(a.phaseTrain)) {
    const own = a.phaseTrain;
    return {
      pass: async (run) => {
        const state = own.getState?.();
        try {
          return await run(own);
        } finally {
          if (state !== undefined) own.setState?.(state);
        }
      },
      close: async () => undefined,
    };
  }
  if (!a.openUnaugmentedTrain) return undefined;
  const reader = a.openUnaugmentedTrain();
  const data = a.frozen ? new FeatureIterator(reader.train, a.frozen, { cache: cacheFeatures }) : reader.train;
  return { pass: (run) => run(data), close: () => reader.close() };
}

/** Recalibrates what the phase trained in training mode; undefined when it trained no BatchNorm so. */
export async function recalibrateAfterPhase(a: RecalibrateAfterPhaseArgs): Promise<PhaseRecalibration | 'skipped' | undefined> {
  const model = a.model;
  const layers = batchNormTrainedInTrainingMode(model);
  if (layers.length === 0) return undefined;
  if (!a.enabled) {
    a.log(`BatchNorm: ${layers.length} layers trained in training mode; recalibration skipped (recalibrateBatchNorm false / --no-recalibrate-bn): their moving statistics lag behind the weights`);
    return 'skipped';
  }
  const source = openRecalibrationData(a, false);
  if (!source) {
    a.log(`BatchNorm: ${layers.length} layers trained in training mode, but no un-augmented training data to recalibrate them on (pass dataDir, or a deterministic train iterator)`);
    return 'skipped';
  }
  try {
    const result = await source.pass((data) => recalibrateBatchNorm(model, data, { engine: a.runsOn, onProgress: a.onProgress, signal: a.signal }));
    a.log(`BatchNorm: recalibrated the moving statistics of ${result.layers} layers as the average batch statistics over ${result.samples} un-augmented training images (${result.batches} batches, PreciseBN), ${result.seconds.toFixed(1)} s ${engineNote(result)}`);
    return { phase: a.phase, ...result };
  } finally {
    await source.close();
  }
}

/** Where the statistics pass ran, for the log. */
function engineNote(result: RecalibrationResult): string {
  return result.engine === 'tfjs' && result.fallbackReason ? `on tfjs (not onnxruntime: ${result.fallbackReason})` : `on ${result.engine === 'onnx' ? 'onnxruntime' : 'tfjs'}`;
}

/**
 * Images of the bounded pass before each validation (at least one batch). Per-channel moments average
 * over images x positions, so few images do: on samples/fashion-shoes (mobilenet_v2 0.35 from random
 * weights, 64 px) 64 and 256 images gave the same epoch val_accuracy within 0.01. Kept small because
 * the cost guard weighs the pass against the epoch's training: on onnxruntime it runs at about inference
 * speed, but a model that does not compile to ONNX runs it on tfjs (about as much per image as an
 * onnx-step training step).
 */
export const VALIDATION_RECALIBRATION_SAMPLES = 128;
/** The pass before validation stays on only while it costs at most this fraction of the epoch's training time. */
export const VALIDATION_RECALIBRATION_MAX_COST = 0.2;
/** ...or while it takes at most this many seconds, whatever the epoch's length (two seconds per epoch are cheap to a person). */
export const VALIDATION_RECALIBRATION_CHEAP_SECONDS = 2;

export interface ValidationRecalibrationSettings {
  /** Images per pass (default VALIDATION_RECALIBRATION_SAMPLES; at least one batch is used). */
  maxSamples?: number;
  /**
   * The first pass of a phase may cost at most this fraction of that epoch's training time, or the
   * passes stop for the phase (default VALIDATION_RECALIBRATION_MAX_COST; a large number: always on; 0: off after the first pass).
   */
  maxCostFraction?: number;
  /** A pass that takes at most this many seconds stays on whatever the fraction (default VALIDATION_RECALIBRATION_CHEAP_SECONDS). */
  cheapSeconds?: number;
}

export interface ValidationRecalibration {
  /** fit's hook; undefined when the phase trains no BatchNorm in training mode, or it is turned off. */
  beforeValidation?: FitOptions['beforeValidation'];
  /** Closes the reader it may have opened. */
  close(): Promise<void>;
}

/**
 * Per-epoch validation with recalibrated BatchNorm statistics, for a phase that trains BatchNorm in
 * training mode (and recalibrates it at its end). Before each validation, the moving statistics of
 * those layers are set from a bounded pass (`maxSamples` images) over the same un-augmented data the
 * end-of-phase recalibration uses; after it, the training's own moving averages are written back, so
 * training, checkpoints and callbacks' saved weights are exactly what they are without it (training
 * normalises with batch statistics; the moving ones only serve prediction).
 *
 * Cost guard, decided once per phase on its first validated epoch: when that pass took more than
 * `cheapSeconds` and more than `maxCostFraction` of the epoch's training time, the statistics are put back before that validation
 * already, and no pass is made for the rest of the phase: the phase's epochs are all judged the same
 * way (EarlyStopping and best.ckpt compare them).
 */
export function validationRecalibration(a: RecalibrateAfterPhaseArgs, settings: boolean | ValidationRecalibrationSettings | undefined, hasValidation: boolean): ValidationRecalibration {
  const model = a.model;
  const layers = batchNormTrainedInTrainingMode(model);
  if (!hasValidation || !a.enabled || settings === false || layers.length === 0) return { close: async () => undefined };
  const {
    maxSamples = VALIDATION_RECALIBRATION_SAMPLES,
    maxCostFraction = VALIDATION_RECALIBRATION_MAX_COST,
    cheapSeconds = VALIDATION_RECALIBRATION_CHEAP_SECONDS,
  } = typeof settings === 'object' ? settings : {};
  let source: RecalibrationData | undefined;
  let decided = false;
  let off = false;
  const beforeValidation: FitOptions['beforeValidation'] = async ({ epoch, trainSeconds }) => {
    if (off) return undefined;
    // Opened on first use, kept for the phase (a reader of its own caches the frozen prefix's features).
    source ??= openRecalibrationData(a, true);
    if (!source) {
      off = true;
      a.log(`validation: BatchNorm statistics not recalibrated before validation in this phase (no un-augmented training data: pass dataDir, or a deterministic train iterator); val metrics use moving statistics that lag behind the weights`);
      return undefined;
    }
    const saved = saveMovingStatistics(layers);
    try {
      const result = await source.pass((data) => recalibrateBatchNorm(model, data, { engine: a.runsOn, maxSamples, signal: a.signal }));
      if (!decided) {
        decided = true;
        if (result.seconds > Math.max(maxCostFraction * trainSeconds, cheapSeconds)) {
          off = true;
          saved.restore();
          a.log(
            `validation: BatchNorm statistics not recalibrated before validation in this phase: a pass over ${result.samples} training images took ${result.seconds.toFixed(1)} s, ` +
              `more than ${cheapSeconds} s and ${Math.round(maxCostFraction * 100)}% of epoch ${epoch}'s ${trainSeconds.toFixed(1)} s of training; val metrics use moving statistics that lag behind the weights (the end-of-phase recalibration still runs)`,
          );
          return undefined;
        }
        a.log(`validation: BatchNorm statistics recalibrated on ${result.samples} training images before each validation (${result.seconds.toFixed(1)} s ${engineNote(result)}; epoch ${epoch} trained in ${trainSeconds.toFixed(1)} s)`);
      }
      return saved.restore;
    } catch (error) {
      saved.restore();
      throw error;
    }
  };
  return { beforeValidation, close: async () => source?.close() };
}
