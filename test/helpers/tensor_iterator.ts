// Test helper: an in-memory BatchIterator over ready tensors (no decoding, no augmentation), with
// Keras Iterator semantics (ceil(n / batchSize) batches,
// seeded reshuffle every epoch) and a tiny state {epoch, position} for exact resume.
import { tf } from '../../src/engines/tfjs/tf.js';
import { invalidArgument } from '../../src/core/errors.js';
import { Random } from '../../src/core/random.js';
import type { Batch, BatchIterator } from '../../src/data/batch.js';

export interface TensorIteratorOptions {
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  classNames?: string[];
}

export interface TensorIteratorState {
  epoch: number;
  position: number;
}

export class TensorIterator implements BatchIterator {
  readonly batchSize: number;
  readonly samples: number;
  readonly classes?: number[];
  readonly classNames?: string[];
  private readonly shuffle: boolean;
  private readonly seed: number;
  private epoch = 0;
  private position = 0;
  private order: number[];

  /** `x` [N, ...] and `y` [N] class indices or [N, C] one-hot; the iterator keeps (does not own) them. */
  constructor(
    private readonly x: tf.Tensor,
    private readonly y: tf.Tensor | undefined,
    options: TensorIteratorOptions = {},
  ) {
    this.samples = x.shape[0];
    this.batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw invalidArgument('batchSize', options.batchSize, 'an integer >= 1');
    if (y && y.shape[0] !== this.samples) throw invalidArgument('y', `shape [${y.shape}]`, `${this.samples} labels, one per sample of x`);
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.classNames = options.classNames;
    if (y) {
      const labels = y.rank === 1 ? (y.dataSync() as Float32Array) : (tf.tidy(() => tf.argMax(y, -1)).dataSync() as Int32Array);
      this.classes = Array.from(labels, (v) => Math.round(v));
    }
    this.order = this.orderFor(0);
  }

  /** The same pixels every epoch (no augmentation here), so derived features can be cached. */
  isDeterministic(): boolean {
    return true;
  }

  /** [height, width, channels] of a sample, for image tensors. */
  get imageShape(): number[] {
    return this.x.shape.slice(1);
  }

  get length(): number {
    return Math.ceil(this.samples / this.batchSize);
  }

  private orderFor(epoch: number): number[] {
    return this.shuffle ? Array.from(new Random(this.seed, epoch).permutation(this.samples)) : Array.from({ length: this.samples }, (_, i) => i);
  }

  async next(): Promise<Batch> {
    if (this.position >= this.samples) {
      this.epoch += 1;
      this.position = 0;
      this.order = this.orderFor(this.epoch);
    }
    const indices = this.order.slice(this.position, this.position + this.batchSize);
    this.position += indices.length;
    return tf.tidy(() => {
      const idx = tf.tensor1d(indices, 'int32');
      return { x: tf.gather(this.x, idx), y: this.y ? tf.gather(this.y, idx) : undefined, indices };
    });
  }

  reset(): void {
    this.position = 0;
  }

  getState(): TensorIteratorState {
    return { epoch: this.epoch, position: this.position };
  }

  setState(state: unknown): void {
    const s = state as TensorIteratorState;
    this.epoch = s.epoch;
    this.position = s.position;
    this.order = this.orderFor(this.epoch);
  }
}
