// predict: top-k class names and probabilities, for a batch tensor or for image files (decoded,
// resized and preprocessed the way the saved model's metadata says).
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { tf, type tfl } from '../engines/tfjs/tf.js';
import { FileError, TlkitError, invalidArgument } from '../core/errors.js';
import { decodeImageFile, perFileError } from '../data/decode.js';
import { modelInputFromRgb } from '../data/model_input.js';
import { extensionOf, IMAGE_EXTENSIONS, isHiddenName } from '../data/scan_directory.js';
import type { ProgressCallback } from '../core/progress.js';
import type { ModelMetadata } from '../weights/saved_model.js';
import { classProbabilities, topOf, type ClassProbability } from './top_classes.js';

export type { ClassProbability };

export interface Prediction {
  /** The image file, when predicting files. */
  file?: string;
  top: ClassProbability[];
  /** Why this file has no prediction (unreadable, not an image...); `top` is then empty. */
  error?: string;
}

export interface PredictOptions {
  classNames?: string[];
  /** How many classes to list per image, most probable first (default 5, at most the class count). */
  topK?: number;
  batchSize?: number;
  /** Computes the model's output instead of tfjs (e.g. an ONNX predictor's `predict`); the caller owns it. */
  predictor?: (x: tf.Tensor) => Promise<tf.Tensor>;
}

function probabilityRows(output: tf.Tensor): number[][] {
  const values = output.arraySync() as number[][] | number[];
  return (values as (number[] | number)[]).map((row) => {
    const r = Array.isArray(row) ? row : [row];
    // A probability of NaN is no answer: the model (weights) or the input is broken; say so instead.
    if (!r.every(Number.isFinite)) throw new TlkitError(`the model's output is not finite (${r.find((v) => !Number.isFinite(v))}): its weights or this input hold NaN or Infinity; no prediction made`);
    return classProbabilities(r);
  });
}

/** Top-k predictions, one per row of a model's output (probabilities, or one sigmoid unit). */
export function predictionsFromOutput(output: tf.Tensor, classNames: string[] | undefined, topK: number | undefined): Prediction[] {
  const k = checkTopK(topK);
  return probabilityRows(output).map((row) => ({ top: topOf(row, classNames, k) }));
}

function checkTopK(topK: unknown): number {
  if (topK === undefined) return 5;
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1) throw invalidArgument('topK', topK, 'an integer >= 1');
  return topK;
}

/** Predictions for a preprocessed NHWC batch (inference mode). */
export async function predict(model: tfl.LayersModel, images: tf.Tensor4D, options: PredictOptions = {}): Promise<Prediction[]> {
  const k = checkTopK(options.topK);
  const batchSize = options.batchSize ?? 32;
  const out: Prediction[] = [];
  for (let start = 0; start < images.shape[0]; start += batchSize) {
    const x = tf.slice(images, [start, 0, 0, 0], [Math.min(batchSize, images.shape[0] - start), -1, -1, -1]);
    let output: tf.Tensor | undefined;
    try {
      output = options.predictor ? await options.predictor(x) : tf.tidy(() => model.apply(x, { training: false }) as tf.Tensor);
      out.push(...predictionsFromOutput(output, options.classNames, k));
    } finally {
      tf.dispose([x, output as tf.Tensor]);
    }
  }
  return out;
}

/**
 * What a folder given to predict / explain is searched for: Keras's extensions (what training reads), and the
 * formats tlkit's decoder reads besides them (WebP, GIF's first frame), since a folder of photos
 * to classify is not a training set whose counts must match Keras's.
 */
export const PREDICT_EXTENSIONS: readonly string[] = [...IMAGE_EXTENSIONS, 'webp', 'gif'];

/** Expands directories (recursively, PREDICT_EXTENSIONS only, sorted) and keeps files as given. */
export async function listImageFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  const extensions = new Set<string>(PREDICT_EXTENSIONS);
  const walk = async (dir: string): Promise<void> => {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (isHiddenName(e.name)) continue; // .ipynb_checkpoints, ._photo.jpg: as the training listing does
      if (e.isDirectory()) await walk(p);
      else if (extensions.has(extensionOf(e.name).slice(1))) files.push(p);
    }
  };
  for (const p of paths) {
    let stat;
    try {
      stat = await fs.stat(p);
    } catch (error) {
      throw new FileError(p, 'no such file or directory', { cause: error });
    }
    if (stat.isDirectory()) await walk(p);
    else files.push(p);
  }
  return files;
}

/** Decodes one image to the model's input: resize, preprocess_input mode, then rescale. */
export async function loadImageForModel(file: string, metadata: Pick<ModelMetadata, 'inputSize' | 'preprocess' | 'rescale'>): Promise<Float32Array> {
  const decoded = await decodeImageFile(file, { targetSize: metadata.inputSize, colorMode: 'rgb' });
  return modelInputFromRgb(decoded.data, metadata);
}

export interface PredictFilesOptions extends PredictOptions {
  onProgress?: ProgressCallback;
}

/** Images of a batch decoded for the model: the rows that loaded, stacked, and why the others did not. */
export interface LoadedBatch {
  /** Positions (in the files given) of the images that loaded, in order. */
  loaded: number[];
  /** Their model input, stacked NHWC. */
  data: Float32Array;
  /** Why each other file could not be used, by position. */
  errors: Map<number, string>;
}

/** Decodes files for the model at once (loadImageForModel); a file that cannot be decoded gets its reason, the others still load. */
export async function loadBatchForModel(files: string[], metadata: ModelMetadata): Promise<LoadedBatch> {
  const [h, w] = metadata.inputSize;
  const rowSize = h * w * 3;
  const results = await Promise.all(files.map((f) => loadImageForModel(f, metadata).then((data) => ({ data }), (error: unknown) => ({ error: perFileError(error) }))));
  const loaded: number[] = [];
  const errors = new Map<number, string>();
  results.forEach((r, i) => ('data' in r ? loaded.push(i) : errors.set(i, r.error)));
  const data = new Float32Array(loaded.length * rowSize);
  loaded.forEach((i, k) => data.set((results[i] as { data: Float32Array }).data, k * rowSize));
  return { loaded, data, errors };
}

/** One batch of files as the model's input (modelInputBatches). */
export interface ModelInputBatch {
  /** The batch's files, and where the batch starts in the whole list. */
  files: string[];
  start: number;
  /** Positions (in `files`) of the files that decoded, in the order of `x`'s rows. */
  loaded: number[];
  /** Their model input, NHWC; undefined when none decoded. Disposed when the next batch is asked for. */
  x?: tf.Tensor4D;
  /** Why each other file could not be used, by position. */
  errors: Map<number, string>;
}

/** `files` in batches of `batchSize`, each decoded for the model (loadBatchForModel) and stacked as one tensor. */
export async function* modelInputBatches(files: string[], metadata: ModelMetadata, batchSize: number): AsyncGenerator<ModelInputBatch> {
  const [h, w] = metadata.inputSize;
  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = files.slice(start, start + batchSize);
    const { loaded, data, errors } = await loadBatchForModel(chunk, metadata);
    const x = loaded.length > 0 ? tf.tensor4d(data, [loaded.length, h, w, 3]) : undefined;
    try {
      yield { files: chunk, start, loaded, x, errors };
    } finally {
      x?.dispose();
    }
  }
}

/**
 * Predictions for image files (and directories of them) with a saved model and its metadata, yielded
 * batch by batch as they are made, in file order: memory holds one batch, whatever the number of files,
 * and a consumer can write each result out before the next batch is decoded.
 */
export async function* predictFilesStream(model: tfl.LayersModel, metadata: ModelMetadata, paths: string[], options: PredictFilesOptions = {}): AsyncGenerator<Prediction> {
  const files = await listImageFiles(paths);
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidArgument('batchSize', options.batchSize, 'an integer >= 1');
  // A file that cannot be decoded gets an error entry; the others are still classified.
  for await (const batch of modelInputBatches(files, metadata, batchSize)) {
    const byIndex = new Map<number, Prediction>();
    if (batch.x) (await predict(model, batch.x, { ...options, classNames: options.classNames ?? metadata.classNames })).forEach((p, k) => byIndex.set(batch.loaded[k], p));
    yield* predictionsInOrder(batch.files, byIndex, batch.errors);
    reportPredictProgress(options.onProgress, batch.start + batch.files.length, files.length);
  }
}

/** One entry per file of a batch, in order: its prediction, else the reason it has none. */
export function* predictionsInOrder(files: string[], byIndex: Map<number, Prediction>, errors: Map<number, string>): Generator<Prediction> {
  for (const [i, file] of files.entries()) yield { file, ...(byIndex.get(i) ?? { top: [], error: errors.get(i) ?? 'no prediction' }) };
}

/** The progress event of prediction over files. */
export function reportPredictProgress(onProgress: ProgressCallback | undefined, current: number, total: number): void {
  onProgress?.({ task: 'predict', current, total, unit: 'img', done: current >= total });
}

/** Predictions for image files (and directories of them), all in one array (`predictFilesStream` for many files). */
export async function predictFiles(model: tfl.LayersModel, metadata: ModelMetadata, paths: string[], options: PredictFilesOptions = {}): Promise<Prediction[]> {
  const out: Prediction[] = [];
  for await (const p of predictFilesStream(model, metadata, paths, options)) out.push(p);
  return out;
}
