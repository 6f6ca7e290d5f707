// Keras's DirectoryIterator (flow_from_directory): labels from folder names, images decoded and
// resized by sharp, augmented with per-sample seeded parameters, optionally on worker threads.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataError, invalidArgument } from '../core/errors.js';
import { tf } from '../engines/tfjs/tf.js';
import { SampleIterator, type SampleIteratorOptions, type LoadedSample } from './sample_iterator.js';
import { channelsOf, checkColorMode, checkInterpolation, DEFAULT_LIMIT_INPUT_PIXELS, type ColorMode, type DecodeOptions, type Interpolation } from './decode.js';
import type { ImageDataGenerator } from './image_data_generator.js';
import { CLASS_MODES, type ClassMode } from '../core/names.js';
import type { Random } from '../core/random.js';
import { Float32Pool } from './buffer_pool.js';
import { DecodedCache, defaultDecodedCacheBytes } from './decoded_cache.js';
import { runSampleJob, type SampleJob } from './sample_job.js';
import type { ImageFingerprint } from './image_fingerprint.js';
import { applyPixelStandardization, type PixelStandardization } from './transforms/standardize.js';
import { scanDirectory, type Subset } from './scan_directory.js';
import { checkWorkers, WorkerPool } from './workers.js';


export interface FlowFromDirectoryOptions extends SampleIteratorOptions {
  /** [height, width]; Keras's default [256, 256]. */
  targetSize?: [number, number];
  colorMode?: ColorMode;
  /** Class folder names in label order; default: sorted sub-folders. */
  classes?: string[];
  /** Default 'categorical' (Keras). null means 'none'. */
  classMode?: ClassMode | null;
  saveToDir?: string | null;
  savePrefix?: string;
  saveFormat?: 'png' | 'jpeg';
  followLinks?: boolean;
  subset?: Subset | null;
  /** Resize kernel; Keras's default 'nearest'. */
  interpolation?: Interpolation;
  keepAspectRatio?: boolean;
  /** Augment the validation subset too (Keras's behaviour). Default false. */
  augmentValidation?: boolean;
  /** Worker threads for decode + augment; 0 = main thread (sharp still decodes on libuv threads). */
  workers?: number;
  /** Pixel limit above which a file is refused (decompression bombs). Default PIL's 89,478,485. */
  limitInputPixels?: number;
  /** Apply EXIF orientation. Default true (PIL, so Keras, ignores it). */
  autoOrient?: boolean;
  /**
   * Bytes of decoded pixels kept between epochs (uint8 at the target size, so a 224x224 RGB image takes
   * 150 KB): later epochs augment them without reading or decoding the file again. Past the budget they
   * spill to a file on disk (`cacheSpillBytes`). 0 turns it off. Default: an eighth of the machine's
   * memory, at most 1 GiB, which is also what all iterators of the process keep together (a larger
   * cacheBytes raises that bound).
   */
  cacheBytes?: number;
  /** Files left out, as 'class/name' relative to the directory (see ScanOptions.exclude). */
  exclude?: Iterable<string>;
  /** A class of `classes` with no folder or no images gets none instead of an error (see ScanOptions.allowEmptyClasses). */
  allowEmptyClasses?: boolean;
  /**
   * Bytes of decoded pixels written to a spill file (one per iterator, in `cacheSpillDirectory`, removed
   * on close and at exit) once `cacheBytes` is full; files past both are decoded every epoch. 0: no spill.
   * Default: a quarter of the free space there, at most 16 GiB.
   */
  cacheSpillBytes?: number;
  /** Where the spill file goes. Default: the system's temporary directory. */
  cacheSpillDirectory?: string;
  /**
   * Each image is read once (a single pass: prediction, evaluation, a one-epoch run, or features cached
   * downstream): keep no decoded pixels at all. Also settable later with `readEachImageOnce()`.
   */
  readOnce?: boolean;
}

/** The decode settings that decide a file's model input (the pixel limit only refuses files). */
export type ModelPixelDecode = Required<Pick<DecodeOptions, 'targetSize' | 'colorMode' | 'interpolation' | 'keepAspectRatio' | 'autoOrient'>>;

/**
 * What turns a file into model input, as JSON in a fixed key order: the feature store keys on it
 * (DirectoryIterator.describePixels, and `tlkit predict` looking up what runs stored).
 */
export function describeModelPixels(decode: ModelPixelDecode, standardization: PixelStandardization): Record<string, unknown> {
  const { targetSize, colorMode, interpolation, keepAspectRatio, autoOrient } = decode;
  return { decode: { targetSize, colorMode, interpolation, keepAspectRatio, autoOrient }, standardization };
}

export class DirectoryIterator extends SampleIterator {
  readonly directory: string;
  readonly classIndices: Record<string, number>;
  /** Class names by index. */
  readonly classNames: string[];
  /** Paths relative to the directory ('cats/cat.1.jpg'), in unshuffled order. */
  readonly filenames: string[];
  readonly filepaths: string[];
  /** Files of this subset left out by the `exclude` option ('class/name'). */
  readonly excluded: string[];
  /** Hidden files and folders left out of the listing (.ipynb_checkpoints, ._photo.jpg...). */
  readonly hidden: number;
  /** With `classes` given: the directory's other sub-folders, left out (not hidden ones). */
  readonly otherFolders: string[];
  /** Files in the class folders left out for their extension, by extension ('.webp': 3). */
  readonly otherFiles: Record<string, number>;
  readonly classes: Int32Array;
  readonly numClasses: number;
  readonly classMode: ClassMode;
  readonly targetSize: [number, number];
  readonly colorMode: ColorMode;
  readonly subset: Subset | null;
  readonly augment: boolean;
  readonly workers: number;
  private readonly decodeOptions: DecodeOptions;
  private readonly pool: WorkerPool | null;
  /** Float buffers reused across samples (decoded pixels, affine output, returned worker results). */
  private readonly buffers = new Float32Pool(32);
  /** Decoded pixels kept between epochs. */
  private decoded: DecodedCache | null;
  private readonly makeDecodedCache: () => DecodedCache | null;
  private readonly saveToDir: string | null;
  private readonly savePrefix: string;
  private readonly saveFormat: 'png' | 'jpeg';

  constructor(
    directory: string,
    readonly generator: ImageDataGenerator,
    options: FlowFromDirectoryOptions = {},
  ) {
    const classMode = options.classMode === null ? 'none' : options.classMode ?? 'categorical';
    if (!(CLASS_MODES as readonly string[]).includes(classMode)) throw invalidArgument('classMode', options.classMode, `one of ${CLASS_MODES.join(', ')} or null`);
    const targetSize = options.targetSize ?? [256, 256];
    if (!Array.isArray(targetSize) || targetSize.length !== 2 || targetSize.some((v) => !Number.isInteger(v) || v < 1)) {
      throw invalidArgument('targetSize', targetSize, 'two integers [height, width] >= 1');
    }
    const colorMode = checkColorMode(options.colorMode ?? 'rgb');
    const interpolation = checkInterpolation(options.interpolation ?? 'nearest');
    const workers = checkWorkers(options.workers ?? 0);
    const saveFormat = options.saveFormat ?? 'png';
    if (saveFormat !== 'png' && saveFormat !== 'jpeg') throw invalidArgument('saveFormat', saveFormat, "'png' or 'jpeg'");
    const listing = scanDirectory(directory, {
      classes: options.classes,
      followLinks: options.followLinks,
      validationSplit: generator.options.validationSplit,
      subset: options.subset ?? null,
      exclude: options.exclude,
      allowEmptyClasses: options.allowEmptyClasses,
    });
    if (classMode === 'binary' && listing.classNames.length !== 2) {
      throw new DataError(`classMode 'binary' needs exactly 2 classes; found ${listing.classNames.length}: ${listing.classNames.join(', ')}. Use 'categorical' or 'sparse', or pass classes: [a, b].`);
    }
    super(listing.filenames.length, options);
    this.directory = listing.directory;
    this.classNames = listing.classNames;
    this.classIndices = listing.classIndices;
    this.filenames = listing.filenames;
    this.filepaths = listing.filepaths;
    this.excluded = listing.excluded;
    this.hidden = listing.hidden;
    this.otherFolders = listing.otherFolders;
    this.otherFiles = listing.otherFiles;
    this.classes = listing.classes;
    this.numClasses = listing.classNames.length;
    this.classMode = classMode;
    this.targetSize = [targetSize[0], targetSize[1]];
    this.colorMode = colorMode;
    this.subset = options.subset ?? null;
    this.augment = !generator.isDeterministic() && (this.subset !== 'validation' || Boolean(options.augmentValidation));
    this.workers = workers;
    this.decodeOptions = {
      targetSize: this.targetSize,
      colorMode,
      interpolation,
      keepAspectRatio: Boolean(options.keepAspectRatio),
      limitInputPixels: options.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS,
      autoOrient: options.autoOrient ?? true,
    };
    this.pool = workers > 0 ? new WorkerPool(workers, this.augment) : null;
    const cacheBytes = options.cacheBytes ?? defaultDecodedCacheBytes();
    if (!Number.isFinite(cacheBytes) || cacheBytes < 0) throw invalidArgument('cacheBytes', options.cacheBytes, 'a number of bytes >= 0');
    const spillBytes = options.cacheSpillBytes;
    if (spillBytes !== undefined && (!Number.isFinite(spillBytes) || spillBytes < 0)) throw invalidArgument('cacheSpillBytes', spillBytes, 'a number of bytes >= 0');
    this.makeDecodedCache = () =>
      cacheBytes > 0 ? new DecodedCache(cacheBytes, undefined, { ...(spillBytes !== undefined ? { spillBytes } : {}), ...(options.cacheSpillDirectory ? { spillDirectory: options.cacheSpillDirectory } : {}) }) : null;
    this.decoded = options.readOnce ? null : this.makeDecodedCache();
    this.saveToDir = options.saveToDir ?? null;
    this.savePrefix = options.savePrefix ?? '';
    this.saveFormat = saveFormat;
    if (this.saveToDir) mkdirSync(this.saveToDir, { recursive: true });
  }

  get imageShape(): [number, number, number] {
    return [this.targetSize[0], this.targetSize[1], channelsOf(this.colorMode)];
  }

  /** Keras's alias of `classes`. */
  get labels(): Int32Array {
    return this.classes;
  }

  isDeterministic(): boolean {
    return !this.augment;
  }

  /**
   * The caller reads each image once from now on (e.g. its features are cached downstream): the decoded
   * pixels kept so far are dropped, with their spill file, and none are kept any more. A later consumer
   * that reads the images every epoch again (a phase training on pixels) calls it with false to keep
   * them again (with the options the iterator was made with).
   */
  readEachImageOnce(readOnce = true): void {
    if (!readOnce) {
      this.decoded ??= this.makeDecodedCache();
      return;
    }
    const decoded = this.decoded;
    this.decoded = null;
    void decoded?.close();
  }

  /**
   * Called with the fingerprint (data/image_fingerprint.ts) of every file this iterator decodes from now
   * on, taken from the bytes and pixels the sample job has anyway (the audit's duplicate search then
   * decodes nothing); unset, none are computed. A file served from the decoded-pixel cache is not read
   * again and gives none.
   */
  onFingerprint?: (file: string, fingerprint: ImageFingerprint) => void;
  /** Samples whose fingerprint onFingerprint has had (each is computed once, not every epoch). */
  private fingerprinted: Uint8Array | null = null;

  /** Decoded-pixel cache figures: samples kept in memory / on disk (for tests and logs). */
  get decodedCacheStats(): { memorySamples: number; memoryBytes: number; spilledSamples: number; spilledBytes: number; spillPath: string | null } {
    const spill = this.decoded?.spill ?? { samples: 0, bytes: 0, path: null };
    return { memorySamples: (this.decoded?.size ?? 0) - spill.samples, memoryBytes: this.decoded?.sizeBytes ?? 0, spilledSamples: spill.samples, spilledBytes: spill.bytes, spillPath: spill.path };
  }

  /**
   * What turns a file into this iterator's model input, as JSON (the feature store keys on it), or
   * undefined when it cannot be described: augmented samples, or a standardization that needs more
   * than a preprocess_input mode and rescale (a custom function, samplewise/featurewise statistics).
   */
  describePixels(): Record<string, unknown> | undefined {
    if (this.augment) return undefined;
    const standardization = this.generator.pixelStandardization();
    if (!standardization) return undefined;
    return describeModelPixels(this.decodeOptions as ModelPixelDecode, standardization);
  }

  protected describeSample(index: number): string {
    return this.filepaths[index];
  }

  protected async loadSample(index: number, rng: Random): Promise<LoadedSample> {
    const [h, w, c] = this.imageShape;
    const decoded = this.decoded;
    const cached = decoded ? (decoded.get(index) ?? (await decoded.read(index))) : undefined;
    // Standardized where the sample is made (a worker, while its pixels are in cache) when that needs
    // nothing but the image: batch assembly is then a copy.
    const standardize = this.generator.pixelStandardization();
    if (cached && !this.augment) {
      const out = this.buffers.take(h * w * c);
      out.set(cached);
      if (standardize) applyPixelStandardization(out, c, standardize);
      return { ok: true, data: out, standardized: Boolean(standardize) };
    }
    const job: SampleJob = {
      file: this.filepaths[index],
      decode: this.decodeOptions,
      params: this.augment ? this.generator.drawTransform(this.imageShape, rng) : null,
      settings: this.generator.transformSettings,
      ...(standardize ? { standardize } : {}),
      ...(this.onFingerprint && !cached && !this.fingerprinted?.[index] ? { fingerprint: true } : {}),
      ...(cached ? { decoded: { data: cached, height: h, width: w, channels: c } } : { keepDecoded: decoded?.hasRoom(h * w * c) ?? false }),
    };
    const r = this.pool ? await this.pool.run(job) : await runSampleJob(job, this.buffers);
    // this.decoded, not `decoded`: readEachImageOnce() may have dropped the cache meanwhile.
    if (r.ok && r.decoded) this.decoded?.keep(index, r.decoded);
    if (r.ok && r.fingerprint && this.onFingerprint) {
      (this.fingerprinted ??= new Uint8Array(this.samples))[index] = 1;
      this.onFingerprint(this.filepaths[index], r.fingerprint);
    }
    return r.ok ? { ok: true, data: r.data, standardized: Boolean(standardize) } : { ok: false, reason: r.reason };
  }

  protected override helpWhileWaiting(): Promise<void> | null {
    const stolen = this.pool?.steal();
    if (!stolen) return null;
    return runSampleJob(stolen.job, this.buffers).then(stolen.resolve);
  }

  protected standardizeSample(data: Float32Array): Float32Array {
    return this.generator.standardizeArray(data, this.imageShape);
  }

  protected override releaseSample(data: Float32Array): void {
    // Samples run on this thread (stolen from the worker pool too) came from the pool; worker results
    // arrive in fresh buffers of the same size: all are reused.
    this.buffers.give(data);
  }

  protected makeLabels(indices: number[], x: tf.Tensor4D): tf.Tensor | undefined {
    switch (this.classMode) {
      case 'none':
        return undefined;
      case 'input':
        return x.clone();
      case 'binary':
      case 'sparse':
        return tf.tensor1d(Float32Array.from(indices, (i) => this.classes[i]), 'float32');
      case 'categorical': {
        const y = new Float32Array(indices.length * this.numClasses);
        indices.forEach((i, row) => (y[row * this.numClasses + this.classes[i]] = 1));
        return tf.tensor2d(y, [indices.length, this.numClasses], 'float32');
      }
    }
  }

  /** Keras's save_to_dir: each sample after standardize, stretched to 0-255, '{prefix}_{index}_{hash}.{format}'. */
  protected override async afterBatch(indices: number[], rows: Float32Array[], rng: Random): Promise<void> {
    if (!this.saveToDir) return;
    const [h, w, c] = this.imageShape;
    await Promise.all(
      rows.map((row, i) => {
        const name = `${this.savePrefix}_${indices[i]}_${rng.int(10_000_000)}.${this.saveFormat === 'jpeg' ? 'jpg' : 'png'}`;
        return writeImage(join(this.saveToDir!, name), toUint8Scaled(row), h, w, c, this.saveFormat);
      }),
    );
  }

  override async close(): Promise<void> {
    await super.close();
    await this.decoded?.close();
    await this.pool?.close();
  }
}

/** Keras's array_to_img(scale=True): shift to 0, stretch to 255, truncate to uint8. */
export function toUint8Scaled(data: Float32Array): Uint8Array {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    if (data[i] < min) min = data[i];
    if (data[i] > max) max = data[i];
  }
  const range = max - min;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = range ? Math.trunc(((data[i] - min) / range) * 255) : 0;
  return out;
}

export async function writeImage(path: string, pixels: Uint8Array, height: number, width: number, channels: number, format: 'png' | 'jpeg'): Promise<void> {
  const img = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels: channels as 1 | 3 | 4 } });
  await (format === 'jpeg' ? img.jpeg({ quality: 95 }) : img.png()).toFile(path);
}
