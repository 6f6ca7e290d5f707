// The contract between data and training: a Batch and a Keras-style BatchIterator. Structural on
// purpose: DirectoryIterator, ArrayIterator (flow), trainRun's feature iterators and any user iterator
// fit as long as they have these members.
import type { tf } from '../engines/tfjs/tf.js';

/** One batch: images, labels (absent for class_mode none / predict) and which samples they are. */
export interface Batch {
  x: tf.Tensor;
  y?: tf.Tensor;
  /** Which samples the rows are (indices into the iterator's files or arrays). */
  indices?: number[];
}

/**
 * A Keras-style iterator: `length` batches make an epoch, `next()` cycles forever (a shuffling
 * iterator reshuffles when it wraps), `reset()` goes back to the first batch of the current order.
 */
export interface BatchIterator {
  /** Batches per epoch. */
  readonly length: number;
  /** Samples per epoch (for img/s and progress); defaults to length * batchSize. */
  readonly samples?: number;
  readonly batchSize?: number;
  next(): Promise<Batch>;
  reset(): void;
  /**
   * The rest of the current epoch, batch by batch. Preferred over counting `length` calls of next()
   * when present: an iterator that skips unreadable files learns its true epoch length on the way.
   */
  epochBatches?(): AsyncIterable<Batch>;
  /**
   * The caller reads each sample at most once from now on (its features are cached downstream): an
   * iterator that keeps decoded images between epochs drops them and keeps none; false keeps them again.
   */
  readEachImageOnce?(readOnce?: boolean): void;
  /** JSON-serialisable position + RNG state, so a checkpoint can resume mid-epoch exactly. */
  getState?(): unknown;
  setState?(state: unknown): void;
  /** Label of every sample, in sample order: needed by classWeight 'auto'. */
  readonly classes?: ArrayLike<number>;
  readonly classNames?: string[];
  readonly filepaths?: string[];
}

/** True when the iterator says its samples are the same every epoch (no augmentation), so derived features can be cached. */
export function isDeterministic(iterator: BatchIterator): boolean {
  const f = (iterator as { isDeterministic?: () => boolean }).isDeterministic;
  return typeof f === 'function' ? f.call(iterator) : false;
}

/** The rest of the current epoch: the iterator's own epochBatches(), else `length` minus `done` calls of next(). */
export async function* restOfEpoch(iterator: BatchIterator, done = 0): AsyncGenerator<Batch> {
  if (iterator.epochBatches) {
    yield* iterator.epochBatches();
    return;
  }
  for (let b = done; b < iterator.length; b++) yield await iterator.next();
}
