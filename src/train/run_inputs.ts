// What trainRun needs from the data and weights modules: the iterators of a run and the backbone's
// weights with the preprocessing that goes with them.
import { existsSync } from 'node:fs';
import { TlkitError, UsageError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { fetchWeightsFile, hasImagenetWeights, imagenetWeightsFile } from '../weights/imagenet.js';
import { loadH5Weights } from '../weights/h5_import.js';
import { isOfflineSource, loadOfflineWeights, NSFWJS_INPUT, offlineSources } from '../weights/offline.js';
import type { PreprocessMode } from '../models/types.js';
import type { TrainRunOptions } from './run.js';
import type { BatchIterator } from './types.js';

export interface RunIterators {
  train: BatchIterator;
  validation?: BatchIterator;
  classNames: string[];
  /** Square input size the model is built for. */
  inputSize: number;
  close(): Promise<void>;
}

const DEFAULT_INPUT_SIZE = 224;

function imageSizeOf(iterator: BatchIterator): number | undefined {
  const shape = (iterator as { imageShape?: number[] }).imageShape;
  return shape?.[0];
}

function classNamesOf(iterator: BatchIterator): string[] {
  if (iterator.classNames) return iterator.classNames;
  const max = iterator.classes ? Math.max(...Array.from(iterator.classes)) : 1;
  return Array.from({ length: max + 1 }, (_, i) => String(i));
}

export async function makeRunIterators(options: TrainRunOptions, _seed: number, _log: (m: string) => void): Promise<RunIterators> {
  if (options.train) {
    const train = options.train;
    return {
      train,
      validation: options.validation,
      classNames: classNamesOf(train),
      inputSize: options.inputSize ?? imageSizeOf(train) ?? DEFAULT_INPUT_SIZE,
      close: async () => undefined,
    };
  }
  throw new TlkitError(`reading the image folder ${options.dataDir} needs the data module's ImageDataGenerator, which this build does not have yet`);
}

export interface LoadedWeights {
  /** What was loaded, for metadata: 'none', 'imagenet', 'nsfwjs', or the .h5 path. */
  source: string;
  /** How images must be prepared for these weights: preprocess_input mode, then x * rescale. */
  preprocess: PreprocessMode;
  rescale?: number;
}

/** Loads `options.weights` into the classifier's backbone (which shares its layers with the model). */
export async function loadWeightsForRun(classifier: Classifier, options: TrainRunOptions, log: (m: string) => void): Promise<LoadedWeights> {
  const id = classifier.backboneId;
  const weights = options.weights ?? (hasImagenetWeights(id) ? 'imagenet' : 'none');
  if (weights === 'none') {
    log(`${id}: random initial weights (weights none)`);
    return { source: 'none', preprocess: classifier.preprocess };
  }
  if (isOfflineSource(weights)) {
    const result = loadOfflineWeights(classifier.backbone, weights, id);
    log(`${id}: ${result.weightsLoaded} weights from the offline source ${weights}`);
    return { source: weights, ...NSFWJS_INPUT };
  }
  if (weights === 'imagenet') {
    const file = imagenetWeightsFile(id, { alpha: options.alpha, inputSize: options.inputSize });
    const path = await fetchWeightsFile(file);
    const result = await loadH5Weights(classifier.backbone, path);
    log(`${id}: ${result.weightsLoaded} ImageNet weights from ${path}`);
    return { source: 'imagenet', preprocess: classifier.preprocess };
  }
  if (existsSync(weights)) {
    const result = await loadH5Weights(classifier.backbone, weights);
    log(`${id}: ${result.weightsLoaded} weights from ${weights}`);
    return { source: weights, preprocess: classifier.preprocess };
  }
  throw new UsageError(
    `Invalid value for \`weights\`: expected 'imagenet', 'none', an offline source (${offlineSources().map((s) => s.name).join(', ')}) or the path of a Keras .h5 file. Received: weights=${JSON.stringify(weights)}`,
    'weights',
  );
}
