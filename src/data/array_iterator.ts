// Keras's NumpyArrayIterator (ImageDataGenerator.flow): batches from in-memory NHWC images with
// optional labels, augmented and standardized like flowFromDirectory.
import { DataError, invalidArgument } from '../core/errors.js';
import { tf } from '../engines/tfjs/tf.js';
import { SampleIterator, type SampleIteratorOptions, type LoadedSample } from './sample_iterator.js';
import { toUint8Scaled, writeImage } from './directory_iterator.js';
import type { ImageDataGenerator } from './image_data_generator.js';
import type { Random } from '../core/random.js';
import type { Subset } from './scan_directory.js';
import { applyTransformToArray } from './transforms/apply_transform.js';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

export interface FlowOptions extends SampleIteratorOptions {
  subset?: Subset | null;
  saveToDir?: string | null;
  savePrefix?: string;
  saveFormat?: 'png' | 'jpeg';
  /** Augment the validation subset too (Keras's behaviour). Default false. */
  augmentValidation?: boolean;
}

export class ArrayIterator extends SampleIterator {
  private readonly data: Float32Array;
  private readonly labels: tf.Tensor | null;
  private readonly shape: [number, number, number];
  private readonly offset: number;
  readonly augment: boolean;
  private readonly saveToDir: string | null;
  private readonly savePrefix: string;
  private readonly saveFormat: 'png' | 'jpeg';

  constructor(
    x: tf.Tensor4D,
    y: tf.Tensor | number[] | null,
    readonly generator: ImageDataGenerator,
    options: FlowOptions = {},
  ) {
    if (!(x instanceof tf.Tensor) || x.rank !== 4) throw invalidArgument('x', x instanceof tf.Tensor ? `a tensor of shape [${x.shape}]` : typeof x, 'a rank-4 tensor [samples, height, width, channels]');
    const total = x.shape[0];
    const yLength = y === null ? total : Array.isArray(y) ? y.length : y.shape[0];
    if (yLength !== total) throw new DataError(`\`x\` (images tensor) and \`y\` (labels) should have the same length. Found: x.shape = [${x.shape}], y length = ${yLength}`);
    const subset = options.subset ?? null;
    const split = generator.options.validationSplit;
    if (subset !== null && split === 0) throw invalidArgument('subset', subset, 'null unless validationSplit is set (> 0)');
    let start = 0;
    let stop = total;
    if (subset !== null) {
      const splitIdx = Math.floor(total * split);
      if (subset === 'validation') stop = splitIdx;
      else if (subset === 'training') start = splitIdx;
      else throw invalidArgument('subset', subset, "'training', 'validation' or null");
    }
    super(stop - start, options);
    const [, h, w, c] = x.shape;
    if (![1, 3, 4].includes(c)) generator.warn(`NumpyArrayIterator is set to use channels on axis 3; its input has ${c} channels (shape [${x.shape}]).`);
    this.shape = [h, w, c];
    this.offset = start;
    this.data = Float32Array.from(x.dataSync());
    if (y === null) this.labels = null;
    else {
      const all = Array.isArray(y) ? tf.tensor1d(y, 'float32') : y;
      this.labels = tf.keep(tf.slice(all, start, stop - start));
      if (Array.isArray(y)) all.dispose();
    }
    this.augment = !generator.isDeterministic() && (subset !== 'validation' || Boolean(options.augmentValidation));
    this.saveToDir = options.saveToDir ?? null;
    this.savePrefix = options.savePrefix ?? '';
    this.saveFormat = options.saveFormat ?? 'png';
    if (this.saveToDir) mkdirSync(this.saveToDir, { recursive: true });
  }

  get imageShape(): [number, number, number] {
    return this.shape;
  }

  isDeterministic(): boolean {
    return !this.augment;
  }

  protected describeSample(index: number): string {
    return `sample ${index + this.offset}`;
  }

  protected async loadSample(index: number, rng: Random): Promise<LoadedSample> {
    const [h, w, c] = this.shape;
    const size = h * w * c;
    const from = (index + this.offset) * size;
    const img = this.data.slice(from, from + size);
    if (!this.augment) return { ok: true, data: img };
    return { ok: true, data: applyTransformToArray(img, h, w, c, this.generator.drawTransform(this.shape, rng), this.generator.transformSettings) };
  }

  protected standardizeSample(data: Float32Array): Float32Array {
    return this.generator.standardizeArray(data, this.shape);
  }

  protected makeLabels(indices: number[]): tf.Tensor | undefined {
    if (!this.labels) return undefined;
    const labels = this.labels;
    return tf.tidy(() => tf.gather(labels, tf.tensor1d(indices, 'int32')));
  }

  protected override async afterBatch(indices: number[], rows: Float32Array[], rng: Random): Promise<void> {
    if (!this.saveToDir) return;
    const [h, w, c] = this.shape;
    await Promise.all(
      rows.map((row, i) => writeImage(join(this.saveToDir!, `${this.savePrefix}_${indices[i]}_${rng.int(10_000_000)}.${this.saveFormat === 'jpeg' ? 'jpg' : 'png'}`), toUint8Scaled(row), h, w, c, this.saveFormat)),
    );
  }

  /** Frees the labels tensor kept for gathering. */
  override async close(): Promise<void> {
    await super.close();
    this.labels?.dispose();
  }
}
