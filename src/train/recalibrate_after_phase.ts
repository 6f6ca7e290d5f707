// trainRun's use of BatchNorm recalibration: after a phase that trained BatchNorm layers in training
// mode, one pass over un-augmented training batches (the phase's cached features when it had them, a
// fresh un-augmented reader of the training folder otherwise), without disturbing the run's own
// iterator (its position and shuffling stay as the checkpoint recorded them).
import type { FrozenEngine } from '../engines/onnx/frozen_features.js';
import type { Classifier } from '../models/classifier.js';
import type { ProgressCallback } from '../core/progress.js';
import { FeatureIterator } from './feature_iterator.js';
import { batchNormTrainedInTrainingMode, recalibrateBatchNorm, type RecalibrationResult } from './recalibrate_batchnorm.js';
import { makeRunInputs, type InputScaling, type RunInputs } from './run_inputs.js';
import type { TrainRunOptions } from './run.js';
import { isDeterministic, type BatchIterator } from '../data/batch.js';

export interface PhaseRecalibration extends RecalibrationResult {
  phase: number;
}

export interface RecalibrateAfterPhaseArgs {
  phase: number;
  classifier: Classifier;
  /** The phase's onnx-frozen engine: then only its head (the trainable rest) can hold trained BatchNorm. */
  engine?: FrozenEngine;
  /** The phase's training iterator (features when `engine` is set). */
  phaseTrain: BatchIterator;
  iterators: RunInputs;
  options: TrainRunOptions;
  weights: string;
  seed: number;
  scaling: InputScaling;
  enabled: boolean;
  log: (message: string) => void;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/** Recalibrates what the phase trained in training mode; undefined when it trained no BatchNorm so. */
export async function recalibrateAfterPhase(a: RecalibrateAfterPhaseArgs): Promise<PhaseRecalibration | 'skipped' | undefined> {
  const model = a.engine ? a.engine.head : a.classifier.model;
  const layers = batchNormTrainedInTrainingMode(model);
  if (layers.length === 0) return undefined;
  if (!a.enabled) {
    a.log(`BatchNorm: ${layers.length} layers trained in training mode; recalibration skipped (recalibrateBatchNorm false / --no-recalibrate-bn): their moving statistics lag behind the weights`);
    return 'skipped';
  }
  let data: BatchIterator | undefined;
  let own: RunInputs | undefined;
  const state = a.phaseTrain.getState?.();
  if (isDeterministic(a.phaseTrain)) {
    data = a.phaseTrain;
  } else if (a.options.dataDir) {
    const { rescale } = (a.options.augmentation ?? {}) as { rescale?: number };
    own = makeRunInputs({ ...a.options, augmentation: rescale !== undefined ? { rescale } : undefined, workers: 0, validationSplit: a.options.validationSplit, valDir: undefined }, a.weights, a.seed, a.scaling, () => undefined);
    data = a.engine ? new FeatureIterator(own.train, a.engine, { cache: false }) : own.train;
  }
  if (!data) {
    a.log(`BatchNorm: ${layers.length} layers trained in training mode, but no un-augmented training data to recalibrate them on (pass dataDir, or a deterministic train iterator)`);
    return 'skipped';
  }
  try {
    const result = await recalibrateBatchNorm(model, data, { onProgress: a.onProgress, signal: a.signal });
    a.log(`BatchNorm: recalibrated the moving statistics of ${result.layers} layers as the average batch statistics over ${result.samples} un-augmented training images (${result.batches} batches, PreciseBN), ${result.seconds.toFixed(1)} s`);
    return { phase: a.phase, ...result };
  } finally {
    if (own) await own.close();
    else if (state !== undefined) a.phaseTrain.setState?.(state);
  }
}
