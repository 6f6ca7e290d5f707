// Checks of a run request that need no disk writes, so a refused run leaves nothing behind: the input
// size against the machine's memory, the data actually yielding images, and a resumed run staying the
// run its checkpoint was trained as.
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import { DataError, UsageError, invalidArgument } from '../../core/errors.js';
import type { TrainingCheckpoint } from '../loop/checkpoint.js';
import type { BatchIterator } from '../../data/batch.js';

/**
 * A training step keeps its activations for the backward pass: the peak RSS bench/train_onnx.ts reports
 * (README: 1.8 GB mobilenet_v2, 3.0 GB resnet50, at 224 with batch 16) is 190x and 310x the input batch's
 * 9.6 MB. The bound uses 64x, a third of the lightest: it refuses sizes that cannot fit, not ones that might.
 */
const ACTIVATION_BYTES_PER_INPUT_BYTE = 64;

/** The largest square input size one training batch of `batchSize` can take in `memoryBytes`. */
export function maxInputSize(batchSize: number, memoryBytes = totalmem()): number {
  return Math.floor(Math.sqrt(memoryBytes / (batchSize * 3 * 4 * ACTIVATION_BYTES_PER_INPUT_BYTE)));
}

export function checkInputSize(inputSize: number | undefined, batchSize: number, memoryBytes = totalmem()): void {
  if (inputSize === undefined) return;
  const max = maxInputSize(batchSize, memoryBytes);
  if (inputSize > max) {
    const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 33 ? 1 : 0)} GiB`;
    const needed = inputSize * inputSize * 3 * 4 * batchSize * ACTIVATION_BYTES_PER_INPUT_BYTE;
    throw invalidArgument('inputSize', inputSize, `at most ${max} with batch size ${batchSize} on this machine (a training step at ${inputSize} px needs about ${gib(needed)}; the machine has ${gib(memoryBytes)})`);
  }
}

function samplesOf(iterator: BatchIterator | undefined): number | undefined {
  return (iterator as { samples?: number } | undefined)?.samples;
}

/** Refuses data that yields no image to train on or, when validation is asked for, none to validate on. */
export function checkRunData(train: BatchIterator, validation: BatchIterator | undefined, options: { dataDir?: string; valDir?: string; validationSplit?: number }): void {
  if (samplesOf(train) === 0) throw new DataError(`${options.dataDir ?? 'the training data'}: no training image${options.validationSplit ? ` left after validationSplit ${options.validationSplit}` : ''}`);
  if (validation && samplesOf(validation) === 0) {
    if (options.validationSplit) {
      // No class gave up an image, so each class's training count is its whole count.
      const labels = (train as { classes?: Int32Array }).classes;
      const counts = new Map<number, number>();
      for (const c of labels ?? []) counts.set(c, (counts.get(c) ?? 0) + 1);
      const smallest = counts.size ? Math.min(...counts.values()) : undefined;
      const hint = smallest ? `; with ${smallest} images in the smallest class it needs at least ${(1 / smallest).toFixed(3)}` : '';
      throw new DataError(`validationSplit ${options.validationSplit} holds out no image of ${options.dataDir} (Keras takes floor(split x images) per class)${hint}; give a larger split or a valDir`);
    }
    throw new DataError(`${options.valDir ?? 'the validation data'}: no validation image`);
  }
}

/** What a checkpoint records about the run it belongs to (trainRun stores it in the checkpoint's tag). */
export interface RunIdentity {
  inputSize: number;
  classNames: string[];
}

/**
 * A resumed run must be the run its checkpoint was trained as: another input size (config.json edited)
 * or other classes (the data folder changed) would continue training a different problem.
 */
export function checkResumeIdentity(checkpoint: TrainingCheckpoint | undefined, now: RunIdentity, runDir: string): void {
  const tag = checkpoint?.tag as Partial<RunIdentity> | undefined;
  if (!tag) return;
  if (typeof tag.inputSize === 'number' && tag.inputSize !== now.inputSize) {
    throw new UsageError(`cannot resume ${runDir}: its checkpoint was trained at input size ${tag.inputSize} but the run now asks for ${now.inputSize} (config.json changed?); restore inputSize ${tag.inputSize} or start a new run`, 'inputSize');
  }
  if (Array.isArray(tag.classNames) && tag.classNames.join('\u0000') !== now.classNames.join('\u0000')) {
    throw new DataError(`cannot resume ${runDir}: its checkpoint was trained on classes [${tag.classNames.join(', ')}] but the data now has [${now.classNames.join(', ')}]; restore the data folder or start a new run`);
  }
}

/** A data folder given with resume must be the run's own (config.json's): the run cannot change data. */
export function checkResumeDataDir(given: string | undefined, stored: string | undefined, runDir: string): void {
  if (given === undefined || stored === undefined || resolve(given) === resolve(stored)) return;
  throw new UsageError(`--resume continues ${runDir} on its own data folder ${stored} (config.json); got DIR ${given}: drop DIR, or start a new run for other data`, 'dataDir');
}
