// A trained model to int8, with its accuracy measured: the model is exported to ONNX, quantized with
// activation ranges calibrated on a sample of the run's own training images, and both precisions
// classify the run's held-out images (its validation folder or validation_split subset, or a folder
// given) so the caller sees what int8 costs before using it. exportQuantizedOnnx writes the int8 model
// only when it loses at most `maxAccuracyDrop` of accuracy, and refuses with the figures otherwise.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DataError, FileError, TlkitError, invalidArgument } from '../core/errors.js';
import type { ProgressCallback } from '../core/progress.js';
import { atomicWrite } from '../core/atomic_write.js';
import { scanDirectory } from '../data/scan_directory.js';
import { exportOnnx } from '../engines/onnx/export.js';
import { NothingToQuantizeError, quantizeOnnx, type ActivationType, type CalibrationBatch, type CalibrationMethod, type QuantizationReport } from '../engines/onnx/quantize.js';
import { createOnnxRunner, type OnnxRunner } from '../engines/onnx/session.js';
import { loadModel, resolveModelDir, type ModelMetadata } from '../weights/saved_model.js';
import { modelFingerprint, QUANTIZED_METADATA, quantizedOnnxPath, withOnnxMetadata } from '../weights/quantized_onnx.js';
import { loadBatchForModel } from './predict.js';

/** The fields of a run's config.json (train/run's stored options) that say where its images are. */
interface RunData {
  dataDir?: string;
  valDir?: string;
  validationSplit?: number;
}

export interface QuantizeModelOptions {
  /** Training images the activation ranges are calibrated on (spread evenly over the sorted files). Default 200. */
  calibrationImages?: number;
  /** Folder of class sub-folders to calibrate on. Default: the run's training data (config.json). */
  calibrationDir?: string;
  /** Folder of class sub-folders to measure both precisions on. Default: the run's validation data. */
  validationDir?: string;
  /** Default 'percentile' (measured: see docs/deployment-quantization.md). */
  calibrationMethod?: CalibrationMethod;
  percentile?: number;
  activationType?: ActivationType;
  perChannel?: boolean;
  reduceRange?: boolean;
  quantizeDense?: boolean;
  /**
   * The first convolution (the one reading the image): true quantizes it, false leaves it in float, and
   * 'auto' (default) quantizes it unless that loses more than `maxAccuracyDrop`, then leaves it in float
   * and measures again. Quantized, onnxruntime also drops the layout conversions around it: the int8
   * MobileNetV2 ran ~9% faster (docs/deployment-quantization.md).
   */
  quantizeFirstConv?: boolean | 'auto';
  keepFloat?: readonly string[];
  /** Largest accepted accuracy loss, as a fraction (0.01 = one point). Default 0.01. */
  maxAccuracyDrop?: number;
  /** onnxruntime threads. */
  threads?: number;
  onProgress?: ProgressCallback;
}

export interface PrecisionAccuracy {
  float32: number;
  int8: number;
  /** float32 minus int8. */
  drop: number;
  samples: number;
  /** Share of images whose top-1 class is the same in both precisions. */
  agreement: number;
  /** Largest difference of one class probability between the precisions. */
  maxProbabilityDifference: number;
  /** The folder (and subset) the figures come from. */
  source: string;
}

/** An image left out because it could not be decoded, and why. */
export interface SkippedImage {
  file: string;
  reason: string;
}

export interface QuantizeModelResult {
  /** The int8 ONNX model (QDQ), with tlkit's metadata (precision, source fingerprint, report). */
  model: Uint8Array;
  report: QuantizationReport;
  accuracy: PrecisionAccuracy;
  calibration: { images: number; source: string; method: CalibrationMethod };
  maxAccuracyDrop: number;
  /** accuracy.drop <= maxAccuracyDrop. */
  accepted: boolean;
  /** Where the first convolution is in `model`. */
  firstConv: 'int8' | 'float';
  /** With quantizeFirstConv 'auto', when the model with the first convolution quantized too lost more than allowed: its figures. */
  firstConvInt8?: PrecisionAccuracy;
  /** Calibration and held-out images that could not be decoded (left out of both, never fatal). */
  skipped: SkippedImage[];
}

/** int8 lost more accuracy than allowed; the message carries the figures. */
export class AccuracyDropError extends TlkitError {
  constructor(readonly result: QuantizeModelResult) {
    const a = result.accuracy;
    super(
      `int8 accuracy ${a.int8.toFixed(4)} is ${(a.drop * 100).toFixed(2)} points below float32 ${a.float32.toFixed(4)} on ${a.samples} held-out images (${a.source}), ` +
        `more than the allowed ${(result.maxAccuracyDrop * 100).toFixed(2)}${result.firstConv === 'float' ? ' (with the first convolution in float)' : ''}: nothing written. ` +
        `Try --calibration-method ${result.calibration.method === 'minmax' ? 'percentile' : 'minmax'}, more --calibration-images, ` +
        `${result.firstConv === 'int8' ? '--first-conv float, ' : ''}--keep-float for more layers, or allow more with --max-accuracy-drop`,
    );
  }
}

const IMAGE_BATCH = 16;

interface DataSource {
  dir: string;
  validationSplit?: number;
  subset?: 'training' | 'validation';
  label: string;
}

async function runConfig(modelDir: string): Promise<RunData | undefined> {
  const path = join(dirname(modelDir), 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as RunData;
  } catch (error) {
    throw new FileError(path, `not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

function calibrationSource(config: RunData | undefined, options: QuantizeModelOptions, modelDir: string): DataSource {
  if (options.calibrationDir) return { dir: options.calibrationDir, label: options.calibrationDir };
  const split = config?.validationSplit && config.validationSplit > 0 ? config.validationSplit : undefined;
  if (config?.dataDir && existsSync(config.dataDir)) return { dir: config.dataDir, validationSplit: split, subset: split ? 'training' : undefined, label: `${config.dataDir}${split ? ' (training subset)' : ''}` };
  throw new FileError(modelDir, `no training images to calibrate on: ${config?.dataDir ? `the run's data folder ${config.dataDir} is gone` : 'not a run directory with a config.json'}; give a folder of class sub-folders with calibrationDir (--calibration-data DIR)`);
}

function validationSource(config: RunData | undefined, options: QuantizeModelOptions, modelDir: string): DataSource {
  if (options.validationDir) return { dir: options.validationDir, label: options.validationDir };
  if (config?.valDir && existsSync(config.valDir)) return { dir: config.valDir, label: config.valDir };
  const split = config?.validationSplit && config.validationSplit > 0 ? config.validationSplit : undefined;
  if (split && config?.dataDir && existsSync(config.dataDir)) return { dir: config.dataDir, validationSplit: split, subset: 'validation', label: `${config.dataDir} (validation subset, ${split})` };
  throw new FileError(modelDir, "no held-out images to measure int8 against float32 on: the run has no validation data (valDir or validationSplit) that still exists; give a folder of class sub-folders with validationDir (--validation-data DIR)");
}

function listFiles(source: DataSource, metadata: ModelMetadata): { files: string[]; labels: Int32Array } {
  const listing = scanDirectory(source.dir, { classes: metadata.classNames, validationSplit: source.validationSplit, subset: source.subset ?? null });
  if (listing.filepaths.length === 0) throw new DataError(`${source.label}: no images in the class folders ${metadata.classNames.join(', ')}`);
  return { files: listing.filepaths, labels: listing.classes };
}

/** `count` indices spread evenly over `n` sorted files (so every class folder is sampled). */
export function evenlySpaced(n: number, count: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor(((i + 0.5) * n) / count));
}

/** The images of `files` that decode, as one batch, with their positions in `files`; the others go to `skipped`. */
async function loadBatch(files: string[], metadata: ModelMetadata, skipped: SkippedImage[]): Promise<CalibrationBatch & { loaded: number[] }> {
  const [h, w] = metadata.inputSize;
  const { loaded, data, errors } = await loadBatchForModel(files, metadata);
  for (const [i, reason] of errors) skipped.push({ file: files[i], reason });
  return { data, shape: [loaded.length, h, w, 3], loaded };
}

function predictedClass(row: Float32Array): number {
  if (row.length === 1) return row[0] > 0.5 ? 1 : 0;
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/**
 * float32's output rows of the held-out images, by position in the listing: an int8 model measured a second
 * time (quantizeFirstConv 'auto') is compared with them instead of running float32 again (a few numbers an image).
 */
type FloatRows = Map<number, Float32Array>;

async function compareOnHeldOut(floatRunner: OnnxRunner, int8Runner: OnnxRunner, source: DataSource, metadata: ModelMetadata, skipped: SkippedImage[], floatRows: FloatRows, onProgress?: ProgressCallback): Promise<PrecisionAccuracy> {
  const { files, labels } = listFiles(source, metadata);
  let floatCorrect = 0;
  let int8Correct = 0;
  let agree = 0;
  let maxDiff = 0;
  let n = 0;
  for (let start = 0; start < files.length; start += IMAGE_BATCH) {
    const chunk = files.slice(start, start + IMAGE_BATCH);
    const batch = await loadBatch(chunk, metadata, skipped);
    if (batch.loaded.length > 0) {
      const known = batch.loaded.every((position) => floatRows.has(start + position));
      const a = known ? undefined : await floatRunner.run(batch.data, batch.shape);
      const b = await int8Runner.run(batch.data, batch.shape);
      const units = b.data.length / batch.loaded.length;
      batch.loaded.forEach((position, i) => {
        if (a) floatRows.set(start + position, a.data.slice(i * units, (i + 1) * units));
        const ra = floatRows.get(start + position)!;
        const rb = b.data.subarray(i * units, (i + 1) * units);
        const [pa, pb] = [predictedClass(ra), predictedClass(rb)];
        const label = labels[start + position];
        if (pa === label) floatCorrect++;
        if (pb === label) int8Correct++;
        if (pa === pb) agree++;
        for (let k = 0; k < units; k++) maxDiff = Math.max(maxDiff, Math.abs(ra[k] - rb[k]));
      });
      n += batch.loaded.length;
    }
    const done = Math.min(files.length, start + IMAGE_BATCH);
    onProgress?.({ task: 'held-out accuracy, float32 and int8', current: done, total: files.length, unit: 'img', done: done === files.length });
  }
  if (n === 0) throw new DataError(`${source.label}: none of its ${files.length} held-out images could be decoded (e.g. ${skipped.at(-1)?.file}: ${skipped.at(-1)?.reason})`);
  return { float32: floatCorrect / n, int8: int8Correct / n, drop: (floatCorrect - int8Correct) / n, samples: n, agreement: agree / n, maxProbabilityDifference: maxDiff, source: source.label };
}

/** Quantizes the model of `runDir` (a run directory or its model/ folder) and measures both precisions. */
export async function quantizeModel(runDir: string, options: QuantizeModelOptions = {}): Promise<QuantizeModelResult> {
  const calibrationImages = options.calibrationImages ?? 200;
  if (!Number.isInteger(calibrationImages) || calibrationImages < 1) throw invalidArgument('calibrationImages', calibrationImages, 'a positive integer');
  const maxAccuracyDrop = options.maxAccuracyDrop ?? 0.01;
  if (!(maxAccuracyDrop >= 0 && maxAccuracyDrop <= 1)) throw invalidArgument('maxAccuracyDrop', maxAccuracyDrop, 'a fraction in [0, 1]');
  const method = options.calibrationMethod ?? 'percentile';

  const modelDir = resolveModelDir(runDir);
  const { model, metadata } = await loadModel(modelDir);
  let floatBytes: Uint8Array;
  try {
    floatBytes = await exportOnnx(model);
  } finally {
    model.dispose();
  }
  const config = await runConfig(modelDir);
  const calibration = calibrationSource(config, options, modelDir);
  const heldOut = validationSource(config, options, modelDir);

  const { files } = listFiles(calibration, metadata);
  const chosen = evenlySpaced(files.length, calibrationImages).map((i) => files[i]);
  const skipped: SkippedImage[] = [];
  const batches: CalibrationBatch[] = [];
  let calibratedOn = 0;
  for (let start = 0; start < chosen.length; start += IMAGE_BATCH) {
    const { data, shape, loaded } = await loadBatch(chosen.slice(start, start + IMAGE_BATCH), metadata, skipped);
    if (loaded.length > 0) batches.push({ data, shape });
    calibratedOn += loaded.length;
    options.onProgress?.({ task: 'calibration images', current: Math.min(chosen.length, start + IMAGE_BATCH), total: chosen.length, unit: 'img', done: start + IMAGE_BATCH >= chosen.length });
  }
  if (calibratedOn === 0) throw new DataError(`${calibration.label}: none of the ${chosen.length} calibration images could be decoded (e.g. ${skipped[0]?.file}: ${skipped[0]?.reason})`);
  const firstConvMode = options.quantizeFirstConv ?? 'auto';
  if (firstConvMode !== true && firstConvMode !== false && firstConvMode !== 'auto') throw invalidArgument('quantizeFirstConv', firstConvMode, "true, false or 'auto'");
  const quantize = (quantizeFirstConv: boolean) =>
    quantizeOnnx(floatBytes, {
      calibration: batches,
      calibrationMethod: method,
      percentile: options.percentile,
      activationType: options.activationType,
      perChannel: options.perChannel,
      reduceRange: options.reduceRange,
      quantizeDense: options.quantizeDense,
      quantizeFirstConv,
      keepFloat: options.keepFloat,
      threads: options.threads,
      onProgress: options.onProgress,
    });

  const floatRunner = await createOnnxRunner(floatBytes, { intraOpNumThreads: options.threads });
  const floatRows: FloatRows = new Map();
  /** The int8 model and its held-out figures beside float32's; `skippedHere` collects the unreadable held-out images. */
  const measure = async (int8Bytes: Uint8Array, skippedHere: SkippedImage[]): Promise<PrecisionAccuracy> => {
    const int8Runner = await createOnnxRunner(int8Bytes, { intraOpNumThreads: options.threads });
    try {
      return await compareOnHeldOut(floatRunner, int8Runner, heldOut, metadata, skippedHere, floatRows, options.onProgress);
    } finally {
      await int8Runner.dispose();
    }
  };
  let firstConv: 'int8' | 'float' = firstConvMode === false ? 'float' : 'int8';
  let firstConvInt8: PrecisionAccuracy | undefined;
  let int8Bytes: Uint8Array;
  let report: QuantizationReport;
  let accuracy: PrecisionAccuracy;
  try {
    ({ model: int8Bytes, report } = await quantize(firstConv === 'int8'));
    accuracy = await measure(int8Bytes, skipped);
    if (firstConvMode === 'auto' && accuracy.drop > maxAccuracyDrop + 1e-12) {
      // The first convolution reads the image's full range; in float it may keep what int8 lost.
      const second = await quantize(false).catch((error: unknown) => {
        if (error instanceof NothingToQuantizeError) return undefined; // the first Conv was all there was to quantize
        throw error;
      });
      if (second) {
        firstConvInt8 = accuracy;
        firstConv = 'float';
        ({ model: int8Bytes, report } = second);
        accuracy = await measure(int8Bytes, []);
      }
    }
  } finally {
    batches.length = 0;
    await floatRunner.dispose();
  }
  const summary = { ...report, calibrationImages: calibratedOn, calibrationSource: calibration.label, accuracy, firstConv };
  const model8 = withOnnxMetadata(int8Bytes, {
    [QUANTIZED_METADATA.precision]: 'int8',
    [QUANTIZED_METADATA.sourceFingerprint]: modelFingerprint(modelDir),
    [QUANTIZED_METADATA.report]: JSON.stringify(summary),
  });
  return {
    model: model8,
    report,
    accuracy,
    calibration: { images: calibratedOn, source: calibration.label, method },
    maxAccuracyDrop,
    accepted: accuracy.drop <= maxAccuracyDrop + 1e-12,
    firstConv,
    ...(firstConvInt8 ? { firstConvInt8 } : {}),
    skipped,
  };
}

/**
 * quantizeModel, then writes the int8 model to `out` (default RUN/model.int8.onnx) when it is within
 * `maxAccuracyDrop` of float32; otherwise throws AccuracyDropError (with the figures) and writes nothing.
 */
export async function exportQuantizedOnnx(runDir: string, out: string | undefined, options: QuantizeModelOptions = {}): Promise<QuantizeModelResult & { path: string }> {
  const result = await quantizeModel(runDir, options);
  if (!result.accepted) throw new AccuracyDropError(result);
  const path = out ?? quantizedOnnxPath(resolveModelDir(runDir));
  await atomicWrite(path, [result.model]);
  return { ...result, path };
}
