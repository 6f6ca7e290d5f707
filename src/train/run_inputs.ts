// What trainRun needs from the data and weights modules: the input scaling that goes with the
// weights, the iterators of a run, and the backbone's weights.
import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import type { ClassMode } from '../models/heads.js';
import type { PreprocessMode } from '../models/types.js';
import { getBackbone } from '../models/zoo.js';
import { ImageDataGenerator, type ImageDataGeneratorOptions } from '../data/image_data_generator.js';
import { preprocessInput } from '../data/preprocess_input.js';
import { fetchWeightsFile, hasImagenetWeights, imagenetWeightsFile } from '../weights/imagenet.js';
import { loadH5Weights } from '../weights/h5_import.js';
import { isOfflineSource, loadOfflineWeights, NSFWJS_INPUT, offlineInputSize, offlineSources } from '../weights/offline.js';
import type { TrainRunOptions } from './run.js';
import type { BatchIterator } from './types.js';

/** How images must be prepared for the weights: preprocess_input mode, then x * rescale. */
export interface InputScaling {
  preprocess: PreprocessMode;
  rescale?: number;
}

export interface RunInputs {
  train: BatchIterator;
  validation?: BatchIterator;
  classNames: string[];
  /** Square input size the model is built for. */
  inputSize: number;
  close(): Promise<void>;
}

/** The weights option with its default: ImageNet where Keras has it, else random. */
export function weightsChoice(backboneId: string, weights: string | undefined): string {
  return weights ?? (hasImagenetWeights(backboneId) ? 'imagenet' : 'none');
}

export function inputScalingFor(backboneId: string, weights: string): InputScaling {
  if (isOfflineSource(weights)) return { ...NSFWJS_INPUT };
  return { preprocess: getBackbone(backboneId).preprocess };
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
export function makeRunInputs(options: TrainRunOptions, seed: number, scaling: InputScaling, log: (m: string) => void): RunInputs {
  const weights = weightsChoice(options.backbone, options.weights);
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
  const classMode: ClassMode = options.classMode ?? 'categorical';
  const common: ImageDataGeneratorOptions = {
    preprocessingFunction: scaling.preprocess === 'none' ? null : preprocessInput(scaling.preprocess),
    rescale: scaling.rescale ?? null,
    onWarning: log,
  };
  const split = options.validationSplit && options.validationSplit > 0 ? options.validationSplit : undefined;
  const trainGenerator = new ImageDataGenerator({ ...(options.augmentation as ImageDataGeneratorOptions | undefined), ...common, validationSplit: split });
  const flow = { targetSize: [inputSize, inputSize] as [number, number], classMode, batchSize: options.batchSize ?? 32, seed, onWarning: log };
  const train = trainGenerator.flowFromDirectory(options.dataDir!, { ...flow, shuffle: true, subset: split ? 'training' : null });
  let validation: BatchIterator | undefined;
  if (split) {
    validation = trainGenerator.flowFromDirectory(options.dataDir!, { ...flow, shuffle: false, subset: 'validation', classes: train.classNames });
  } else if (options.valDir) {
    validation = new ImageDataGenerator(common).flowFromDirectory(options.valDir, { ...flow, shuffle: false, classes: train.classNames });
  }
  log(`data: ${train.samples} training images in ${train.classNames.length} classes (${train.classNames.join(', ')})` + (validation ? `, ${validation.samples} validation images` : ', no validation data'));
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

/** Loads the weights option into the classifier's backbone (which shares its layers with the model). */
export async function loadWeightsForRun(classifier: Classifier, options: TrainRunOptions, log: (m: string) => void): Promise<string> {
  const id = classifier.backboneId;
  const weights = weightsChoice(id, options.weights);
  if (weights === 'none') {
    log(`${id}: random initial weights (weights none)`);
  } else if (isOfflineSource(weights)) {
    const result = loadOfflineWeights(classifier.backbone, weights, id);
    log(`${id}: ${result.weightsLoaded} weights from the offline source ${weights}`);
  } else if (weights === 'imagenet') {
    const file = imagenetWeightsFile(id, { alpha: options.alpha, inputSize: options.inputSize });
    const path = await fetchWeightsFile(file);
    const result = await loadH5Weights(classifier.backbone, path);
    log(`${id}: ${result.weightsLoaded} ImageNet weights from ${path}`);
  } else if (existsSync(weights)) {
    const result = await loadH5Weights(classifier.backbone, weights);
    log(`${id}: ${result.weightsLoaded} weights from ${weights}`);
  } else {
    throw new UsageError(
      `Invalid value for \`weights\`: expected 'imagenet', 'none', an offline source (${offlineSources().map((s) => s.name).join(', ')}) or the path of a Keras .h5 file. Received: weights=${JSON.stringify(weights)}`,
      'weights',
    );
  }
  return weights;
}
