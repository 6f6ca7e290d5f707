// A run's plan: everything trainRun will do, decided from the options alone, before any file is
// touched or any tensor made: the checked options, the seed, the phases (what trains, how long, at
// which rate) and the engine choice each phase starts from. Pure: tests and `compare` can look at a
// plan without running it.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError, invalidArgument } from '../../core/errors.js';
import { checkEngineChoice } from '../../engines/engine_decision.js';
import type { EngineChoice, LabelClassMode, OptimizerName } from '../../core/names.js';
import type { TrainableOptions } from '../../models/classifier.js';
import { DEFAULT_LEARNING_RATE } from '../loop/optimizers.js';
import { checkEpochs, type Epochs } from './epochs_auto.js';
import type { TrainRunOptions } from './run.js';

/** The JSON-able options, as stored in config.json so the run can be repeated or resumed. */
export type StoredConfig = Omit<TrainRunOptions, 'train' | 'validation' | 'signal' | 'overwrite'>;

export interface PhasePlan {
  index: 1 | 2;
  /** 'head' / 'fine-tune' in the two-phase recipe; none for a single phase. */
  label?: string;
  /** Epochs of this phase, or 'auto' (epochs_auto.ts decides when the phase's engine is known). */
  epochs: Epochs;
  learningRate: number;
  trainable: TrainableOptions;
  /** Seed of the phase's steps (Dropout noise). */
  seed: number;
}

export interface RunPlan {
  config: StoredConfig;
  seed: number;
  engine: EngineChoice;
  optimizer: OptimizerName;
  classMode: LabelClassMode;
  phases: PhasePlan[];
}

/** The JSON-able options with absolute paths, so `--resume` works from any working directory. */
export function storedConfig(options: TrainRunOptions): StoredConfig {
  const { train: _t, validation: _v, signal: _s, overwrite: _o, ...rest } = options;
  const absolute = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
  return {
    ...rest,
    dataDir: absolute(rest.dataDir),
    valDir: absolute(rest.valDir),
    outDir: resolve(rest.outDir),
    weights: rest.weights && existsSync(rest.weights) ? resolve(rest.weights) : rest.weights,
  };
}

export function checkRunOptions(o: TrainRunOptions): void {
  const int = (name: string, v: unknown, min: number) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min)) throw invalidArgument(name, v, `an integer >= ${min}`);
  };
  checkEpochs('epochs', o.epochs);
  int('fineTuneEpochs', o.fineTuneEpochs, 0);
  int('batchSize', o.batchSize, 1);
  int('earlyStoppingPatience', o.earlyStoppingPatience, 0);
  int('checkpointEveryBatches', o.checkpointEveryBatches, 1);
  if (o.freezeBackbone && o.fineTuneFrom !== undefined && !o.fineTuneEpochs) {
    throw new UsageError('freezeBackbone and fineTuneFrom contradict each other (unless fineTuneEpochs asks for the two-phase recipe); give one', 'fineTuneFrom');
  }
  const forValidation = o.recalibrateBatchNormForValidation;
  if (forValidation !== undefined && typeof forValidation !== 'boolean') {
    if (typeof forValidation !== 'object' || forValidation === null) throw invalidArgument('recalibrateBatchNormForValidation', forValidation, 'a boolean or { maxSamples, maxCostFraction, cheapSeconds }');
    if (forValidation.maxSamples !== undefined && !(typeof forValidation.maxSamples === 'number' && forValidation.maxSamples >= 1)) {
      throw invalidArgument('recalibrateBatchNormForValidation.maxSamples', forValidation.maxSamples, 'a number >= 1');
    }
    if (forValidation.maxCostFraction !== undefined && !(Number.isFinite(forValidation.maxCostFraction) && forValidation.maxCostFraction >= 0)) {
      // Finite: config.json would store Infinity as null.
      throw invalidArgument('recalibrateBatchNormForValidation.maxCostFraction', forValidation.maxCostFraction, 'a finite number >= 0 (a large one: always on)');
    }
    if (forValidation.cheapSeconds !== undefined && !(Number.isFinite(forValidation.cheapSeconds) && forValidation.cheapSeconds >= 0)) {
      throw invalidArgument('recalibrateBatchNormForValidation.cheapSeconds', forValidation.cheapSeconds, 'a finite number of seconds >= 0');
    }
  }
  if (!o.dataDir && !o.train) throw invalidArgument('dataDir', o.dataDir, 'a folder with one sub-folder per class (or a `train` iterator)');
  if (o.engine !== undefined) checkEngineChoice(o.engine);
}

/**
 * The phases: one, or the two-phase recipe (the head on the frozen backbone, then fine-tuning from a
 * layer at a tenth of the rate with BatchNorm kept in inference mode, as the Keras guide advises).
 */
export function phasesOf(config: StoredConfig, seed: number): PhasePlan[] {
  const optimizer = config.optimizer ?? 'adam';
  const lr = config.learningRate ?? DEFAULT_LEARNING_RATE[optimizer];
  if (config.fineTuneEpochs && config.fineTuneEpochs > 0) {
    return [
      { index: 1, label: 'head', epochs: config.epochs, learningRate: lr, trainable: { freezeBackbone: true }, seed: seed + 1 },
      {
        index: 2,
        label: 'fine-tune',
        epochs: config.fineTuneEpochs,
        learningRate: config.fineTuneLr ?? lr / 10,
        trainable: { fineTuneFrom: config.fineTuneFrom ?? 'all', freezeBatchNorm: true },
        seed: seed + 2,
      },
    ];
  }
  const trainable = config.fineTuneFrom !== undefined ? { fineTuneFrom: config.fineTuneFrom } : { freezeBackbone: Boolean(config.freezeBackbone) };
  return [{ index: 1, epochs: config.epochs, learningRate: lr, trainable, seed: seed + 1 }];
}

/** The plan of a run from its options (`config`: the stored config on resume, else the caller's). */
export function planRun(config: StoredConfig, iterators: Pick<TrainRunOptions, 'train' | 'validation'> = {}): RunPlan {
  checkRunOptions({ ...config, ...iterators });
  const seed = config.seed ?? Math.floor(Math.random() * 2 ** 31);
  const withSeed: StoredConfig = { ...config, seed };
  return {
    config: withSeed,
    seed,
    engine: config.engine ?? 'auto',
    optimizer: config.optimizer ?? 'adam',
    classMode: config.classMode ?? 'categorical',
    phases: phasesOf(withSeed, seed),
  };
}
