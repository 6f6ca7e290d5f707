// The training flags `tlkit train` and `tlkit compare` share: one spec, one usage text, one translation
// into trainRun options, so both commands accept the same recipe.
import { UsageError } from '../core/errors.js';
import type { TrainRunOptions } from '../train/run/run.js';
import type { Epochs } from '../train/run/epochs_auto.js';
import { choiceFlag, numberFlag, stringFlag, type FlagSpec, type ParsedArgs } from './args.js';
import { readExcludeList, type ExcludeList } from '../data/exclude_list.js';
import { augmentationFlagSpec, augmentationFlagUsage, augmentationOptionsFromFlags, augmentValidationFromFlags } from './augmentation_flags.js';

export const trainFlagSpec = {
  weights: { type: 'string' },
  'input-size': { type: 'string' },
  alpha: { type: 'string' },
  head: { type: 'string' },
  'class-mode': { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  'freeze-backbone': { type: 'boolean' },
  'fine-tune-from': { type: 'string' },
  'fine-tune-epochs': { type: 'string' },
  'fine-tune-lr': { type: 'string' },
  'validation-split': { type: 'string' },
  'val-dir': { type: 'string' },
  seed: { type: 'string' },
  'early-stopping-patience': { type: 'string' },
  'reduce-lr-patience': { type: 'string' },
  'class-weight': { type: 'string' },
  'checkpoint-every': { type: 'string' },
  engine: { type: 'string' },
  workers: { type: 'string' },
  'no-recalibrate-bn': { type: 'boolean' },
  'no-validation-recalibration': { type: 'boolean' },
  'feature-store': { type: 'string' },
  'no-feature-store': { type: 'boolean' },
  'feature-precision': { type: 'string' },
  'feature-identity': { type: 'string' },
  'feature-store-budget': { type: 'string' },
  exclude: { type: 'string' },
  ...augmentationFlagSpec,
} as const satisfies FlagSpec;

export const trainFlagUsage = `Training options:
  --weights W                imagenet, none, nsfwjs (offline), or a Keras .h5 path
                             (default: imagenet when Keras has it, for train; see compare for compare)
  --input-size N             square input size (default: the backbone's, or its offline weights')
  --alpha A                  width multiplier (mobilenet, mobilenet_v2)
  --head SPEC                e.g. flatten,dense:16:relu,dropout:0.25 (default gap)
  --class-mode M             binary, sparse or categorical (default categorical)
  --epochs N|auto            epochs; with --fine-tune-epochs: epochs of the head phase. auto (default): with
                             the backbone frozen and nothing augmented (features cached, epochs almost free),
                             until val_loss stops improving (patience 5, best weights kept, at most 100);
                             else 5
  --batch-size B             default 32
  --optimizer O              adam (default), sgd or rmsprop
  --lr X                     learning rate (default: Keras's, 1e-3 for adam)
  --freeze-backbone          train the head only
  --fine-tune-from L         all, last-block, or a backbone layer name: train from there on (others frozen)
  --fine-tune-epochs N       two-phase recipe: after --epochs on the frozen backbone, N epochs
                             unfrozen from --fine-tune-from (default all) ...
  --fine-tune-lr X           ... at this rate (default lr / 10)
  --validation-split F       hold out this fraction of each class (Keras validation_split)
  --val-dir DIR              validation images in their own folder
  --exclude FILE             leave these images out (nothing is deleted): one 'class/name' per line, relative to
                             the training folder, or tlkit audit's audit.csv (rows with keep=false/0/no)
  --seed S                   seed of shuffling, augmentation, dropout and initial weights (default random, recorded)
  --early-stopping-patience N stop after N epochs without val_loss improvement, keep the best weights
  --reduce-lr-patience N     divide the rate by 10 after N epochs without improvement
  --class-weight auto        weight classes inversely to their frequency
  --checkpoint-every N       also checkpoint every N batches inside an epoch
  --workers N                threads that decode and augment while the model computes (default 1 with
                             augmentation, else 0)
  --no-recalibrate-bn        keep BatchNorm moving statistics as training left them (default: after a phase that
                             trained BatchNorm in training mode, set them to the average batch statistics of one
                             un-augmented pass over the training images: PreciseBN); also turns off:
  --no-validation-recalibration  validate each epoch with the moving statistics as training left them (default:
                             where it is cheap, a 128-image recalibration before each validation, put back after)
  --feature-store DIR        where frozen-backbone features are kept and reused across epochs, phases, runs,
                             sweeps and workers (DIR/features/; default: beside the compiled-graph cache,
                             $TLKIT_CACHE_DIR or ~/.cache/tlkit). See docs/feature-store.md
  --no-feature-store         keep no features after the run (they still go to a temporary on-disk store)
  --feature-precision P      float16 (default; half the disk) or float32
  --feature-identity I       stat (path, size, mtime; default) or content (sha256 of each file)
  --feature-store-budget GB  gigabytes the stores may keep after a run, oldest removed first (default 20)
  --engine E                 auto (default: frozen first layers on onnxruntime, the rest on tfjs; with nothing
                             frozen, the compiled ONNX training step when it supports the model), onnx, or tfjs
                             (every pass on tfjs: training, validation, BatchNorm recalibration). Decided once
                             per phase; the log's 'engine:' line says where each pass runs

${augmentationFlagUsage}`;

export type SharedTrainOptions = Omit<TrainRunOptions, 'backbone' | 'outDir' | 'dataDir' | 'resume' | 'train' | 'validation' | 'signal' | 'epochs'> & { epochs?: Epochs };

/** Flags -> the trainRun options both commands share (undefined where the flag is absent). */
export function trainOptionsFromFlags(values: ParsedArgs['values']): SharedTrainOptions {
  if (values['freeze-backbone'] && values['fine-tune-from'] !== undefined && values['fine-tune-epochs'] === undefined) {
    throw new UsageError('--freeze-backbone and --fine-tune-from exclude each other (unless --fine-tune-epochs asks for the two-phase recipe)', 'fine-tune-from');
  }
  if (values['validation-split'] !== undefined && values['val-dir'] !== undefined) throw new UsageError('--validation-split and --val-dir exclude each other; give one', 'val-dir');
  return {
    weights: stringFlag(values, 'weights'),
    inputSize: numberFlag(values, 'input-size', { integer: true, min: 32 }),
    alpha: numberFlag(values, 'alpha', { min: 0, exclusiveMin: true }),
    head: stringFlag(values, 'head'),
    classMode: choiceFlag(values, 'class-mode', ['binary', 'sparse', 'categorical'] as const),
    epochs: epochsFlag(values),
    batchSize: numberFlag(values, 'batch-size', { integer: true, min: 1 }),
    optimizer: choiceFlag(values, 'optimizer', ['adam', 'sgd', 'rmsprop'] as const),
    learningRate: numberFlag(values, 'lr', { min: 0, exclusiveMin: true }),
    freezeBackbone: values['freeze-backbone'] === undefined ? undefined : Boolean(values['freeze-backbone']),
    fineTuneFrom: stringFlag(values, 'fine-tune-from'),
    fineTuneEpochs: numberFlag(values, 'fine-tune-epochs', { integer: true, min: 0 }),
    fineTuneLr: numberFlag(values, 'fine-tune-lr', { min: 0, exclusiveMin: true }),
    validationSplit: numberFlag(values, 'validation-split', { min: 0, max: 0.99 }),
    valDir: stringFlag(values, 'val-dir'),
    seed: numberFlag(values, 'seed', { integer: true, min: 0 }),
    earlyStoppingPatience: numberFlag(values, 'early-stopping-patience', { integer: true, min: 0 }),
    reduceLrPatience: numberFlag(values, 'reduce-lr-patience', { integer: true, min: 0 }),
    classWeight: choiceFlag(values, 'class-weight', ['auto'] as const),
    checkpointEveryBatches: numberFlag(values, 'checkpoint-every', { integer: true, min: 1 }),
    engine: choiceFlag(values, 'engine', ['tfjs', 'onnx', 'auto'] as const),
    workers: numberFlag(values, 'workers', { integer: true, min: 0, max: 16 }),
    recalibrateBatchNorm: values['no-recalibrate-bn'] ? false : undefined,
    recalibrateBatchNormForValidation: values['no-validation-recalibration'] ? false : undefined,
    featureStore: values['no-feature-store'] ? false : stringFlag(values, 'feature-store'),
    featurePrecision: choiceFlag(values, 'feature-precision', ['float16', 'float32'] as const),
    featureIdentity: choiceFlag(values, 'feature-identity', ['stat', 'content'] as const),
    featureStoreBudget: gigabytes(numberFlag(values, 'feature-store-budget', { min: 0 })),
    augmentation: augmentationOptionsFromFlags(values) as Record<string, unknown>,
    augmentValidation: augmentValidationFromFlags(values),
    exclude: excludeFlag(values),
  };
}

function gigabytes(value: number | undefined): number | undefined {
  return value === undefined ? undefined : value * 1e9;
}

/** --exclude FILE: the list read now, so a missing file fails before anything runs. */
function excludeFlag(values: ParsedArgs['values']): ExcludeList | undefined {
  const path = stringFlag(values, 'exclude');
  return path === undefined ? undefined : readExcludeList(path);
}

/** --epochs N or auto. */
function epochsFlag(values: ParsedArgs['values']): Epochs | undefined {
  const raw = stringFlag(values, 'epochs');
  if (raw === undefined || raw === 'auto') return raw;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`--epochs expects an integer >= 0 or auto; got '${raw}'`, 'epochs');
  return n;
}

/** Drops undefined fields so defaults further down (trainRun's, compare's) apply. */
export function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
