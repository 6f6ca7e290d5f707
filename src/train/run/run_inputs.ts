// What trainRun needs from the data and weights modules: the input scaling that goes with the
// weights, the iterators of a run, and the backbone's weights.
import type { Classifier } from '../../models/classifier.js';
import type { LabelClassMode } from '../../core/names.js';
import type { PreprocessMode } from '../../models/types.js';
import { getBackbone } from '../../models/zoo.js';
import { ImageDataGenerator, type ImageDataGeneratorOptions } from '../../data/image_data_generator.js';
import { preprocessInput } from '../../data/preprocess_input.js';
import { isOfflineSource, offlineInputSize } from '../../weights/offline.js';
import { defaultWeights, inputScalingFor, loadBackboneWeights, parseWeightsFlag, type WeightsInfo } from '../../weights/resolve.js';
import type { InputScaling } from '../../weights/catalog.js';
import type { TrainRunOptions } from './run.js';
import type { BatchIterator } from '../../data/batch.js';
import type { DirectoryIterator } from '../../data/directory_iterator.js';
import { addOtherFiles, otherFilesNote } from '../../data/scan_directory.js';
import type { ExcludeList } from '../../data/exclude_list.js';

export type { InputScaling };

export interface RunInputs {
  train: BatchIterator;
  validation?: BatchIterator;
  classNames: string[];
  /** Square input size the model is built for. */
  inputSize: number;
  close(): Promise<void>;
}

/**
 * The weights a run uses: the option ('imagenet', 'none', an offline source, a .h5 path), or, when absent,
 * the weights module's default (ImageNet if cached, else the offline source, else random) with its reason.
 */
export function weightsChoice(options: Pick<TrainRunOptions, 'backbone' | 'weights' | 'alpha' | 'inputSize'>): { weights: string; reason?: string } {
  if (options.weights !== undefined) return { weights: parseWeightsFlag(options.weights) ?? 'none' };
  const chosen = defaultWeights(options.backbone, { alpha: options.alpha, inputSize: options.inputSize });
  return { weights: chosen.weights ?? 'none', reason: chosen.reason };
}

function defaultInputSize(backboneId: string, weights: string): number {
  return (isOfflineSource(weights) ? offlineInputSize(weights, backboneId) : undefined) ?? getBackbone(backboneId).defaultInputSize;
}

function imageSizeOf(iterator: BatchIterator): number | undefined {
  return (iterator as { imageShape?: number[] }).imageShape?.[0];
}

function classNamesOf(iterator: BatchIterator): string[] {
  if (iterator.classNames) return iterator.classNames;
  const max = iterator.classes ? Math.max(...Array.from(iterator.classes)) : 1;
  return Array.from({ length: max + 1 }, (_, i) => String(i));
}

async function closeIterator(iterator: BatchIterator | undefined): Promise<void> {
  const close = (iterator as { close?: () => Promise<void> } | undefined)?.close;
  if (close) await close.call(iterator);
}

/**
 * The run's iterators: the given ones, or flow_from_directory over dataDir (augmented with
 * `augmentation`) and over valDir or the validationSplit subset (never augmented).
 */
export function makeRunInputs(options: TrainRunOptions, weights: string, seed: number, scaling: InputScaling, log: (m: string) => void): RunInputs {
  if (options.train) {
    return {
      train: options.train,
      validation: options.validation,
      classNames: classNamesOf(options.train),
      inputSize: options.inputSize ?? imageSizeOf(options.train) ?? defaultInputSize(options.backbone, weights),
      close: async () => undefined,
    };
  }
  const inputSize = options.inputSize ?? defaultInputSize(options.backbone, weights);
  const classMode: LabelClassMode = options.classMode ?? 'categorical';
  const common: ImageDataGeneratorOptions = {
    preprocessingFunction: scaling.preprocess === 'none' ? null : preprocessInput(scaling.preprocess),
    rescale: scaling.rescale ?? null,
    onWarning: log,
  };
  const split = options.validationSplit && options.validationSplit > 0 ? options.validationSplit : undefined;
  const { rescale: _rescale, ...augmentation } = (options.augmentation ?? {}) as ImageDataGeneratorOptions;
  const trainGenerator = new ImageDataGenerator({ ...augmentation, ...common, validationSplit: split });
  const augmented = !trainGenerator.isDeterministic();
  const workers = options.workers ?? (augmented ? 1 : 0);
  const flow = { targetSize: [inputSize, inputSize] as [number, number], classMode, batchSize: options.batchSize ?? 32, seed, onWarning: log, workers };
  const exclude = excludeLists(options.exclude);
  // With a validation split both subsets are files of dataDir: every entry applies to it.
  const dataExclude = split ? [...exclude.train, ...exclude.validation] : exclude.train;
  const train = trainGenerator.flowFromDirectory(options.dataDir!, { ...flow, shuffle: true, subset: split ? 'training' : null, exclude: dataExclude });
  let validation: DirectoryIterator | undefined;
  if (split) {
    validation = trainGenerator.flowFromDirectory(options.dataDir!, { ...flow, shuffle: false, subset: 'validation', classes: train.classNames, augmentValidation: options.augmentValidation, exclude: dataExclude });
  } else if (options.valDir) {
    const valGenerator = new ImageDataGenerator(options.augmentValidation ? { ...augmentation, ...common } : common);
    validation = valGenerator.flowFromDirectory(options.valDir, { ...flow, shuffle: false, classes: train.classNames, exclude: exclude.validation });
  }
  if (options.exclude) logExcluded(exclude, train, validation, Boolean(split), log);
  log(`data: ${train.samples} training images in ${train.classNames.length} class${train.classNames.length === 1 ? '' : 'es'} (${train.classNames.join(', ')})` + (validation ? `, ${validation.samples} validation images` : ', no validation data'));
  const hidden = train.hidden + (validation && !split ? validation.hidden : 0);
  if (hidden > 0) log(`ignored ${hidden} hidden file${hidden === 1 ? '' : 's'} or folder${hidden === 1 ? '' : 's'} (names starting with '.': .ipynb_checkpoints, ._photo.jpg, .DS_Store...)`);
  const otherFiles = otherFilesNote(addOtherFiles(train.otherFiles, validation && !split ? validation.otherFiles : {}));
  if (otherFiles) log(otherFiles);
  return {
    train,
    validation,
    classNames: train.classNames,
    inputSize,
    close: async () => {
      await closeIterator(train);
      await closeIterator(validation);
    },
  };
}

function excludeLists(exclude: TrainRunOptions['exclude']): { train: string[]; validation: string[] } {
  if (!exclude) return { train: [], validation: [] };
  if (Array.isArray(exclude)) return { train: [...exclude], validation: [] };
  const list = exclude as Partial<ExcludeList>;
  return { train: [...(list.train ?? [])], validation: [...(list.validation ?? [])] };
}

/** How many files the exclude list left out, and the entries that named no file (a typo or a stale list). */
function logExcluded(exclude: ExcludeList, train: DirectoryIterator, validation: DirectoryIterator | undefined, sameFolder: boolean, log: (m: string) => void): void {
  const trainFound = new Set([...train.excluded, ...(sameFolder && validation ? validation.excluded : [])]);
  const validationFound = new Set(sameFolder ? [] : validation?.excluded ?? []);
  log(`exclude: left out ${train.excluded.length} training and ${validation?.excluded.length ?? 0} validation images`);
  const unknown = sameFolder
    ? [...exclude.train, ...exclude.validation].filter((f) => !trainFound.has(f))
    : [...exclude.train.filter((f) => !trainFound.has(f)), ...exclude.validation.filter((f) => !validationFound.has(f))];
  if (unknown.length > 0) log(`warning: exclude: ${unknown.length} entr${unknown.length === 1 ? 'y names' : 'ies name'} no image of the data (${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}); entries are 'class/name' relative to the folder of their split`);
}

/** Loads the chosen weights into the classifier's backbone (which shares its layers with the model). */
export async function loadWeightsForRun(classifier: Classifier, weights: string, options: TrainRunOptions, log: (m: string) => void): Promise<WeightsInfo> {
  const info = await loadBackboneWeights(classifier.backbone, classifier.backboneId, weights === 'none' ? null : weights, { alpha: options.alpha });
  log(info.kind === 'random' ? `${classifier.backboneId}: random initial weights` : `${classifier.backboneId}: ${info.weightsLoaded} weights from ${info.file ?? info.source}`);
  return info;
}

/**
 * A fresh un-augmented reader of the run's training folder (the run's rescale and scaling, no workers):
 * BatchNorm recalibration reads it when the phase's own iterator is augmented. Undefined without dataDir.
 */
export function unaugmentedTrainReader(options: TrainRunOptions, weights: string, seed: number, scaling: InputScaling): (() => RunInputs) | undefined {
  if (!options.dataDir) return undefined;
  const { rescale } = (options.augmentation ?? {}) as { rescale?: number };
  const unaugmented: TrainRunOptions = { ...options, augmentation: rescale !== undefined ? { rescale } : undefined, workers: 0, valDir: undefined };
  return () => makeRunInputs(unaugmented, weights, seed, scaling, () => undefined);
}
