// Keras's ImageDataGenerator: random transform parameters drawn from the options, applied by pure
// kernels (transforms/), then standardize. Options are Keras's kwargs in camelCase.
// Semantics are Keras 3's (keras/src/legacy/preprocessing/image.py). Differences, on purpose:
// widthShiftRange moves content horizontally and heightShiftRange vertically, as Keras documents
// (current Keras swaps them, keras-team/keras#17398); the affine centre is ((h-1)/2, (w-1)/2) also for
// non-square images (Keras mixes h and w there); the validation
// subset of flowFromDirectory is not augmented unless augmentValidation is set (keras-preprocessing#218);
// a generator never prints: warnings go to onWarning and to `warnings`.
import { DataError, invalidArgument } from '../core/errors.js';
import { tf } from '../engines/tfjs/tf.js';
import { ArrayIterator, type FlowOptions } from './array_iterator.js';
import { DirectoryIterator, type FlowFromDirectoryOptions } from './directory_iterator.js';
import type { PreprocessingFunction } from './preprocess_input.js';
import { Random, randomSeed } from '../core/random.js';
import { checkValidationSplit } from './scan_directory.js';
import { checkFillMode, type FillMode } from './transforms/affine.js';
import { applyTransformToArray, type TransformParams, type TransformSettings } from './transforms/apply_transform.js';
import { AUGMENTATION_OPS, type AugmentationOptions, type ResolvedAugmentation } from './transforms/registry.js';
import { featurewiseCenter, featurewiseStdNormalize, rescaleInPlace, samplewiseCenter, samplewiseStdNormalize, zcaWhiten, type PixelStandardization } from './transforms/standardize.js';
import { fitZca } from './transforms/zca.js';

export type { TransformParams } from './transforms/apply_transform.js';
export type { ShiftRange } from './transforms/shift.js';

/**
 * Keras's kwargs: the random augmentations (AugmentationOptions, one interface per op in
 * transforms/registry.ts: rotationRange, width/heightShiftRange, shearRange, zoomRange, horizontal/
 * verticalFlip, channelShiftRange, brightnessRange), the resample's settings and standardize's.
 */
export interface ImageDataGeneratorOptions extends AugmentationOptions {
  featurewiseCenter?: boolean;
  samplewiseCenter?: boolean;
  featurewiseStdNormalization?: boolean;
  samplewiseStdNormalization?: boolean;
  zcaWhitening?: boolean;
  zcaEpsilon?: number;
  fillMode?: FillMode;
  cval?: number;
  /** Multiplies the data after preprocessingFunction (e.g. 1/255); null or 0 = none, as Keras. */
  rescale?: number | null;
  /** Per image, on the augmented 0-255 HWC image, before rescale (Keras). */
  preprocessingFunction?: PreprocessingFunction | ((x: tf.Tensor3D) => tf.Tensor3D) | null;
  /** Fraction held out as the 'validation' subset, in [0, 1). */
  validationSplit?: number;
  /** Only 'float32' (tfjs computes in float32). */
  dtype?: 'float32';
  /** Affine interpolation: 0 nearest, 1 bilinear (Keras's default). */
  interpolationOrder?: 0 | 1;
  /** Largest image size D = h*w*c for which ZCA will build its D x D matrix. Default 4096. */
  zcaMaxDimension?: number;
  /** Receives warnings (Keras's warnings.warn); they are also kept in `warnings`. */
  onWarning?: (message: string) => void;
}

interface ResolvedOptions extends ResolvedAugmentation {
  featurewiseCenter: boolean;
  samplewiseCenter: boolean;
  featurewiseStdNormalization: boolean;
  samplewiseStdNormalization: boolean;
  zcaWhitening: boolean;
  zcaEpsilon: number;
  fillMode: FillMode;
  cval: number;
  rescale: number | null;
  preprocessingFunction: PreprocessingFunction | ((x: tf.Tensor3D) => tf.Tensor3D) | null;
  validationSplit: number;
  dtype: 'float32';
  interpolationOrder: 0 | 1;
  zcaMaxDimension: number;
}

function resolveOptions(o: ImageDataGeneratorOptions, warn: (m: string) => void): ResolvedOptions {
  const r = {
    featurewiseCenter: Boolean(o.featurewiseCenter),
    samplewiseCenter: Boolean(o.samplewiseCenter),
    featurewiseStdNormalization: Boolean(o.featurewiseStdNormalization),
    samplewiseStdNormalization: Boolean(o.samplewiseStdNormalization),
    zcaWhitening: Boolean(o.zcaWhitening),
    zcaEpsilon: o.zcaEpsilon ?? 1e-6,
    fillMode: checkFillMode(o.fillMode ?? 'nearest'),
    cval: o.cval ?? 0,
    rescale: o.rescale ? o.rescale : null,
    preprocessingFunction: o.preprocessingFunction ?? null,
    validationSplit: checkValidationSplit(o.validationSplit ?? 0),
    dtype: o.dtype ?? 'float32',
    interpolationOrder: o.interpolationOrder ?? 1,
    zcaMaxDimension: o.zcaMaxDimension ?? 4096,
    // Each augmentation op checks its own kwargs.
    ...(Object.assign({}, ...AUGMENTATION_OPS.map((op) => op.check(o))) as ResolvedAugmentation),
  } satisfies ResolvedOptions as ResolvedOptions;
  if (r.dtype !== 'float32') throw invalidArgument('dtype', r.dtype, "'float32'");
  if (r.interpolationOrder !== 0 && r.interpolationOrder !== 1) throw invalidArgument('interpolationOrder', r.interpolationOrder, '0 (nearest) or 1 (bilinear)');
  if (typeof r.cval !== 'number' || !Number.isFinite(r.cval)) throw invalidArgument('cval', r.cval, 'a finite number');
  if (r.rescale !== null && (typeof r.rescale !== 'number' || !Number.isFinite(r.rescale))) throw invalidArgument('rescale', r.rescale, 'a number or null');
  if (r.preprocessingFunction !== null && typeof r.preprocessingFunction !== 'function') throw invalidArgument('preprocessingFunction', r.preprocessingFunction, 'a function or null');
  // Keras's own adjustments, with its warnings.
  if (r.zcaWhitening) {
    if (!r.featurewiseCenter) {
      r.featurewiseCenter = true;
      warn('This ImageDataGenerator specifies `zcaWhitening`, which overrides setting of `featurewiseCenter`.');
    }
    if (r.featurewiseStdNormalization) {
      r.featurewiseStdNormalization = false;
      warn('This ImageDataGenerator specifies `zcaWhitening` which overrides setting of `featurewiseStdNormalization`.');
    }
  }
  if (r.featurewiseStdNormalization && !r.featurewiseCenter) {
    r.featurewiseCenter = true;
    warn('This ImageDataGenerator specifies `featurewiseStdNormalization`, which overrides setting of `featurewiseCenter`.');
  }
  if (r.samplewiseStdNormalization && !r.samplewiseCenter) {
    r.samplewiseCenter = true;
    warn('This ImageDataGenerator specifies `samplewiseStdNormalization`, which overrides setting of `samplewiseCenter`.');
  }
  return r;
}

export interface GeneratorFitOptions {
  augment?: boolean;
  rounds?: number;
  seed?: number;
}

export class ImageDataGenerator {
  readonly options: Readonly<ResolvedOptions>;
  /** Per-channel (or per-element) statistics set by fit(); may be assigned directly, as in Keras. */
  mean: Float32Array | null = null;
  std: Float32Array | null = null;
  principalComponents: Float32Array | null = null;
  readonly warnings: string[] = [];
  private readonly onWarning?: (message: string) => void;
  private readonly warnedOnce = new Set<string>();
  private readonly rng = new Random(randomSeed());

  /** Keras 3's name for the ZCA matrix (keras-preprocessing called it principal_components). */
  get zcaWhiteningMatrix(): Float32Array | null {
    return this.principalComponents;
  }

  set zcaWhiteningMatrix(value: Float32Array | null) {
    this.principalComponents = value;
  }

  constructor(options: ImageDataGeneratorOptions = {}) {
    this.onWarning = options.onWarning;
    this.options = resolveOptions(options, (m) => this.warn(m));
  }

  /** Records a warning (once per message) and passes it to onWarning. */
  warn(message: string): void {
    if (this.warnedOnce.has(message)) return;
    this.warnedOnce.add(message);
    this.warnings.push(message);
    this.onWarning?.(message);
  }

  get transformSettings(): TransformSettings {
    return { fillMode: this.options.fillMode, cval: this.options.cval, interpolationOrder: this.options.interpolationOrder };
  }

  /** True when no random transform is configured: every image comes out the same each epoch. */
  isDeterministic(): boolean {
    return !AUGMENTATION_OPS.some((op) => op.enabled(this.options));
  }

  /**
   * Draws transform parameters for an image of shape [h, w, c] with the given generator: each op in
   * registry order (Keras's: theta, tx, ty, shear, zx/zy, flips, channel shift, brightness), each
   * drawing only when configured.
   */
  drawTransform(shape: readonly number[], rng: Random): TransformParams {
    const params: TransformParams = {};
    for (const op of AUGMENTATION_OPS) op.draw(this.options, rng, shape, params);
    return params;
  }

  /** Keras's get_random_transform(img_shape, seed): a seed gives a fresh generator, as np.random.seed does. */
  getRandomTransform(shape: readonly number[], seed?: number | Random): TransformParams {
    const rng = seed instanceof Random ? seed : seed === undefined ? this.rng : new Random(seed);
    return this.drawTransform(shape, rng);
  }

  /** Keras's apply_transform on one HWC float image (0-255). Returns a new tensor. */
  applyTransform(x: tf.Tensor3D, params: TransformParams): tf.Tensor3D {
    const [h, w, c] = x.shape;
    const data = applyTransformToArray(Float32Array.from(x.dataSync()), h, w, c, params, this.transformSettings);
    return tf.tensor3d(data, [h, w, c], 'float32');
  }

  randomTransform(x: tf.Tensor3D, seed?: number | Random): tf.Tensor3D {
    return this.applyTransform(x, this.getRandomTransform(x.shape, seed));
  }

  /**
   * standardize when it is nothing but a preprocess_input mode (preprocessInput) and/or rescale: what a
   * sample job can apply by itself (same float32 values as standardizeArray); undefined when standardize
   * needs more (samplewise or featurewise statistics, ZCA, a custom preprocessing function).
   */
  pixelStandardization(): PixelStandardization | undefined {
    const o = this.options;
    if (o.samplewiseCenter || o.samplewiseStdNormalization || o.featurewiseCenter || o.featurewiseStdNormalization || o.zcaWhitening) return undefined;
    const fn = o.preprocessingFunction as PreprocessingFunction | null;
    if (fn && !fn.mode) return undefined;
    return { ...(fn?.mode ? { preprocess: fn.mode } : {}), ...(o.rescale ? { rescale: o.rescale } : {}) };
  }

  /** standardize on flat HWC data: preprocessingFunction, rescale, samplewise, featurewise, ZCA. May return new data. */
  standardizeArray(data: Float32Array, shape: readonly [number, number, number]): Float32Array {
    const o = this.options;
    let x = data;
    const fn = o.preprocessingFunction as PreprocessingFunction | null;
    if (fn) {
      if (fn.applyInPlace) fn.applyInPlace(x, shape[2]);
      else {
        const out = tf.tidy(() => fn(tf.tensor3d(x, [shape[0], shape[1], shape[2]], 'float32')));
        if (out.size !== x.length) {
          out.dispose();
          throw invalidArgument('preprocessingFunction', `a result of shape [${out.shape}]`, `a tensor of the input's shape [${shape}]`);
        }
        x = Float32Array.from(out.dataSync());
        out.dispose();
      }
    }
    if (o.rescale) rescaleInPlace(x, o.rescale);
    if (o.samplewiseCenter) samplewiseCenter(x);
    if (o.samplewiseStdNormalization) samplewiseStdNormalize(x);
    if (o.featurewiseCenter) {
      if (this.mean) featurewiseCenter(x, this.mean);
      else this.warn("This ImageDataGenerator specifies `featurewiseCenter`, but it hasn't been fit on any training data. Fit it first by calling `.fit(data)`.");
    }
    if (o.featurewiseStdNormalization) {
      if (this.std) featurewiseStdNormalize(x, this.std);
      else this.warn("This ImageDataGenerator specifies `featurewiseStdNormalization`, but it hasn't been fit on any training data. Fit it first by calling `.fit(data)`.");
    }
    if (o.zcaWhitening) {
      if (this.principalComponents) x = zcaWhiten(x, this.principalComponents);
      else this.warn("This ImageDataGenerator specifies `zcaWhitening`, but it hasn't been fit on any training data. Fit it first by calling `.fit(data)`.");
    }
    return x;
  }

  /** Keras's standardize on one HWC image. Returns a new tensor. */
  standardize(x: tf.Tensor3D): tf.Tensor3D {
    const data = this.standardizeArray(Float32Array.from(x.dataSync()), x.shape);
    return tf.tensor3d(data, x.shape, 'float32');
  }

  /**
   * Keras's fit: computes mean / std (per channel) and the ZCA matrix from sample data (NHWC), after
   * rescale and, with augment, `rounds` random transforms of every sample.
   */
  fit(x: tf.Tensor4D, options: GeneratorFitOptions = {}): void {
    if (!(x instanceof tf.Tensor) || x.rank !== 4) throw invalidArgument('x', x instanceof tf.Tensor ? `a tensor of shape [${x.shape}]` : typeof x, 'a rank-4 tensor [samples, height, width, channels]');
    const [n, h, w, c] = x.shape;
    if (![1, 3, 4].includes(c)) this.warn(`Expected input to be images (as tensors of rank 4) with 1, 3 or 4 channels; got ${c} channels (shape [${x.shape}]).`);
    const rounds = options.rounds ?? 1;
    if (!Number.isInteger(rounds) || rounds < 1) throw invalidArgument('rounds', rounds, 'an integer >= 1');
    const size = h * w * c;
    const o = this.options;
    if (o.zcaWhitening && size > o.zcaMaxDimension) {
      const gb = (size * size * 4) / 1e9;
      throw new DataError(
        `ZCA whitening needs a D x D matrix with D = height*width*channels = ${h}*${w}*${c} = ${size}: ${size} x ${size} (${gb.toFixed(1)} GB as float32), over the limit zcaMaxDimension=${o.zcaMaxDimension}. Fit on smaller images or raise zcaMaxDimension.`,
      );
    }
    const src = Float32Array.from(x.dataSync());
    if (o.rescale) for (let i = 0; i < src.length; i++) src[i] = src[i] * o.rescale;
    let data = src;
    let count = n;
    if (options.augment) {
      const rng = new Random(options.seed ?? randomSeed());
      count = n * rounds;
      data = new Float32Array(count * size);
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < n; i++) {
          const img = src.slice(i * size, (i + 1) * size);
          const out = applyTransformToArray(img, h, w, c, this.drawTransform([h, w, c], rng), this.transformSettings);
          data.set(out, (r * n + i) * size);
        }
      }
    }
    const pixels = count * h * w;
    if (o.featurewiseCenter) {
      const sum = new Float64Array(c);
      for (let i = 0; i < data.length; i++) sum[i % c] += data[i];
      this.mean = Float32Array.from(sum, (s) => s / pixels);
      featurewiseCenter(data, this.mean);
    }
    if (o.featurewiseStdNormalization) {
      const sq = new Float64Array(c);
      for (let i = 0; i < data.length; i++) sq[i % c] += data[i] * data[i];
      this.std = Float32Array.from(sq, (s) => Math.sqrt(s / pixels));
      featurewiseStdNormalize(data, this.std);
    }
    if (o.zcaWhitening) this.principalComponents = fitZca(data, count, size, o.zcaEpsilon);
  }

  /** Keras's flow_from_directory: batches from a folder with one sub-folder per class. */
  flowFromDirectory(directory: string, options: FlowFromDirectoryOptions = {}): DirectoryIterator {
    return new DirectoryIterator(directory, this, options);
  }

  /** Keras's flow: batches from in-memory images (NHWC) and optional labels. */
  flow(x: tf.Tensor4D, y?: tf.Tensor | number[] | null, options: FlowOptions = {}): ArrayIterator {
    return new ArrayIterator(x, y ?? null, this, options);
  }
}
