// What DirectoryIterator and ArrayIterator share: Keras's Iterator (batches of indices, shuffled per
// epoch, the last batch of an epoch smaller) plus what Keras lacks: a file that fails to load is
// skipped and the batch is refilled from the next files of the epoch, so batches keep their size
// (only the epoch's last batch can be smaller); a seeded order and per-sample augmentation seed derived
// from (seed, epoch, position), so batches are the same whatever the worker count; getState/setState
// to resume mid-epoch; prefetching of the next samples while the caller trains.
import { DataError, invalidArgument } from '../core/errors.js';
import { tf } from '../engines/tfjs/tf.js';
import { Random, randomSeed } from '../core/random.js';
import type { Batch, BatchIterator } from './batch.js';

export interface SkippedFile {
  file: string;
  reason: string;
}

/** A batch of images from flowFromDirectory / flow: the training contract's Batch with its files' fate. */
export interface ImageBatch extends Batch {
  /** float32 NHWC, after standardize. */
  x: tf.Tensor4D;
  /** Labels per classMode; absent for classMode none. */
  y?: tf.Tensor;
  /** Sample indices (into filenames / the flow() arrays) of the rows of x. */
  indices: number[];
  /** Files skipped while filling this batch. */
  skipped: SkippedFile[];
}

/** Where an iterator is: enough to resume exactly (JSON-serialisable). */
export interface IteratorState {
  seed: number;
  epoch: number;
  /** Position in the epoch's order of the next sample to read. */
  position: number;
  batchesSeen: number;
}

/** `standardized`: loadSample already applied standardize (then the batch takes the row as it is). */
export type LoadedSample = { ok: true; data: Float32Array; standardized?: boolean } | { ok: false; reason: string };

// Stream ids keep the shuffle and the per-sample augmentation generators independent.
const SHUFFLE_STREAM = 0x5348;
const SAMPLE_STREAM = 0x4155;

export function checkBatchSize(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw invalidArgument('batchSize', value, 'an integer >= 1');
  return value;
}

export function checkSeed(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw invalidArgument('seed', value, 'a non-negative integer');
  }
  return value;
}

export interface SampleIteratorOptions {
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  /** Samples decoded ahead of the caller. Default: two batches, at most 128. */
  prefetch?: number;
  onWarning?: (message: string) => void;
}

const NO_PIXELS = new Float32Array(0);

export abstract class SampleIterator implements BatchIterator, AsyncIterable<ImageBatch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  /** Every file skipped so far (each once), with the reason. */
  readonly skippedFiles: SkippedFile[] = [];
  protected readonly onWarning?: (message: string) => void;
  private epoch = 0;
  private position = 0;
  private batchesSeen = 0;
  private order: Int32Array | null = null;
  private orderEpoch = -1;
  private inflight = new Map<number, Promise<LoadedSample>>();
  private readonly knownBad = new Map<number, string>();
  private readonly prefetch: number;
  /** next() / epochBatches() steps run one after the other even when a caller does not await. */
  private queue: Promise<unknown> = Promise.resolve();
  private batchBuffer: Float32Array | null = null;
  /**
   * false while a consumer that already holds what it derives from every sample's pixels (a feature
   * cache filled by a whole epoch) pulls batches: samples are not read and each batch's x is an empty
   * [n, 0, 0, 0] tensor; order, indices, labels and state advance exactly as when reading. Samples
   * prefetched meanwhile are read when a batch that needs pixels reaches them. Default true.
   */
  pixelsNeeded = true;

  constructor(
    readonly samples: number,
    options: SampleIteratorOptions,
  ) {
    this.batchSize = checkBatchSize(options.batchSize ?? 32);
    this.shuffle = options.shuffle ?? true;
    this.seed = checkSeed(options.seed) ?? randomSeed();
    this.onWarning = options.onWarning;
    this.prefetch = Math.max(1, options.prefetch ?? Math.min(128, 2 * this.batchSize));
  }

  /**
   * Batches per epoch (Keras's len(iterator)): ceil(usable samples / batchSize). Files found bad are
   * left out once known, so after the first epoch this is exact; during it, it can drop.
   */
  get length(): number {
    return Math.ceil((this.samples - this.knownBad.size) / this.batchSize);
  }

  /** [height, width, channels] of every sample. */
  abstract get imageShape(): [number, number, number];

  /** True when a sample's pixels are the same every epoch (no random transform), so features can be cached. */
  abstract isDeterministic(): boolean;

  /** Loads, augments (with its own generator) and returns one sample, before standardize. */
  protected abstract loadSample(index: number, rng: Random): Promise<LoadedSample>;

  /** Standardizes one sample in place (or returns new data). */
  protected abstract standardizeSample(data: Float32Array): Float32Array;

  /** Labels for these sample indices, or undefined; `x` is the batch (for classMode 'input'). */
  protected abstract makeLabels(indices: number[], x: tf.Tensor4D): tf.Tensor | undefined;

  /**
   * Called while the sample the batch needs next is not ready: starts one unit of queued work on this
   * thread (a sample no worker has started) and returns its completion, or null when there is none.
   */
  protected helpWhileWaiting(): Promise<void> | null {
    return null;
  }

  /** Takes back a sample's buffer once it is copied into a batch (for reuse). */
  protected releaseSample(_data: Float32Array): void {}

  /** Called with each finished batch before it is returned (saveToDir). */
  protected async afterBatch(_indices: number[], _rows: Float32Array[], _rng: Random): Promise<void> {}

  /** Human name of a sample for warnings: the file path. */
  protected abstract describeSample(index: number): string;

  /** The epoch's order of sample indices. */
  orderOf(epoch: number): Int32Array {
    if (this.orderEpoch !== epoch || !this.order) {
      this.order = this.shuffle ? new Random(this.seed, SHUFFLE_STREAM, epoch).permutation(this.samples) : Int32Array.from({ length: this.samples }, (_, i) => i);
      this.orderEpoch = epoch;
    }
    return this.order;
  }

  private start(epoch: number, position: number): Promise<LoadedSample> {
    const index = this.orderOf(epoch)[position];
    const bad = this.knownBad.get(index);
    if (bad !== undefined) return Promise.resolve({ ok: false, reason: bad });
    if (!this.pixelsNeeded) return Promise.resolve({ ok: true, data: NO_PIXELS });
    const load = () => this.loadSample(index, new Random(this.seed, SAMPLE_STREAM, epoch, position));
    // A rejection (not a bad file: e.g. a worker thread that died) is retried once before the file is skipped.
    return load()
      .catch(load)
      .catch((error: unknown) => ({
        ok: false as const,
        reason: `failed to load (${error instanceof Error ? error.message : String(error)})`,
      }));
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(step, step);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private fill(): void {
    const end = Math.min(this.samples, this.position + this.prefetch);
    for (let p = this.position; p < end; p++) if (!this.inflight.has(p)) this.inflight.set(p, this.start(this.epoch, p));
  }

  private nextEpoch(): void {
    this.epoch++;
    this.position = 0;
    this.inflight.clear();
  }

  /**
   * Reads samples of the current epoch until the batch is full or the epoch ends. Returns null when
   * the epoch had nothing left (all remaining files bad).
   */
  private async collect(): Promise<ImageBatch | null> {
    const indices: number[] = [];
    const rows: Float32Array[] = [];
    const standardized: boolean[] = [];
    const skipped: SkippedFile[] = [];
    const epoch = this.epoch;
    while (rows.length < this.batchSize && this.position < this.samples) {
      this.fill();
      const p = this.position;
      const pending = this.inflight.get(p)!;
      let ready = false;
      void pending.then(() => (ready = true));
      await Promise.resolve();
      // Help until the awaited sample is ready, but never wait for the helped one longer than that.
      for (let work = ready ? null : this.helpWhileWaiting(); work && !ready; work = ready ? null : this.helpWhileWaiting()) {
        await Promise.race([work, pending]);
      }
      let result = await pending;
      if (this.pixelsNeeded && result.ok && result.data === NO_PIXELS) result = await this.start(epoch, p);
      if (this.epoch !== epoch || this.position !== p) throw new DataError('the iterator was reset or its state set while next() was running; await next() before calling reset()/setState()');
      this.inflight.delete(p);
      this.position++;
      const index = this.orderOf(epoch)[p];
      if (result.ok) {
        indices.push(index);
        rows.push(result.data);
        standardized.push(result.standardized === true);
      } else if (!this.knownBad.has(index)) {
        this.knownBad.set(index, result.reason);
        const entry = { file: this.describeSample(index), reason: result.reason };
        this.skippedFiles.push(entry);
        skipped.push(entry);
        this.onWarning?.(`skipped ${entry.file}: ${entry.reason}`);
      }
    }
    if (this.position >= this.samples) this.nextEpoch();
    this.fill();
    if (rows.length === 0) return null;
    this.batchesSeen++;
    if (!this.pixelsNeeded) {
      // Samples read before the switch (prefetched) are dropped like the rest: the consumer has them.
      for (const row of rows) if (row !== NO_PIXELS) this.releaseSample(row);
      const x = tf.zeros([rows.length, 0, 0, 0], 'float32') as tf.Tensor4D;
      const y = this.makeLabels(indices, x);
      return y ? { x, y, indices, skipped } : { x, indices, skipped };
    }
    const [h, w, c] = this.imageShape;
    const size = h * w * c;
    // The wasm backend copies tensor data into its own memory, so the batch buffer can be reused;
    // other backends keep a reference to it.
    const reuse = tf.getBackend() === 'wasm';
    const xData = reuse && this.batchBuffer?.length === rows.length * size ? this.batchBuffer : new Float32Array(rows.length * size);
    if (reuse) this.batchBuffer = xData;
    for (let i = 0; i < rows.length; i++) {
      if (!standardized[i]) rows[i] = this.standardizeSample(rows[i]);
      xData.set(rows[i], i * size);
    }
    await this.afterBatch(indices, rows, new Random(this.seed, SAMPLE_STREAM, -1, this.batchesSeen));
    for (const row of rows) this.releaseSample(row);
    const x = tf.tensor4d(xData, [rows.length, h, w, c], 'float32');
    const y = this.makeLabels(indices, x);
    return y ? { x, y, indices, skipped } : { x, indices, skipped };
  }

  /**
   * The standardized pixels of these samples as one batch, outside the epoch's order and state: for a
   * consumer that skipped pixels (pixelsNeeded false) and then found a derived copy missing. Only for
   * iterators whose samples are the same every epoch.
   */
  async loadBatch(indices: readonly number[]): Promise<tf.Tensor4D> {
    if (!this.isDeterministic()) throw new DataError('loadBatch: this iterator augments its samples; their pixels differ at every read');
    const [h, w, c] = this.imageShape;
    const size = h * w * c;
    const x = new Float32Array(indices.length * size);
    for (let i = 0; i < indices.length; i++) {
      const result = await this.loadSample(indices[i], new Random(this.seed, SAMPLE_STREAM, -1, indices[i]));
      if (!result.ok) throw new DataError(`${this.describeSample(indices[i])}: ${result.reason}`);
      x.set(result.standardized ? result.data : this.standardizeSample(result.data), i * size);
      this.releaseSample(result.data);
    }
    return tf.tensor4d(x, [indices.length, h, w, c], 'float32');
  }

  /** The next batch; after the epoch's last batch comes the next epoch's first (Keras's endless iterator). */
  next(): Promise<ImageBatch> {
    return this.serial(() => this.nextBatch());
  }

  private async nextBatch(): Promise<ImageBatch> {
    if (this.samples === 0) throw new DataError('no samples to iterate over (empty subset?)');
    for (let emptyEpochs = 0; ; ) {
      const startEpoch = this.epoch;
      const startPosition = this.position;
      const batch = await this.collect();
      if (batch) return batch;
      if (startPosition === 0 && startEpoch !== this.epoch) emptyEpochs++;
      if (emptyEpochs > 0 || this.knownBad.size >= this.samples) {
        throw new DataError(`every one of the ${this.samples} files failed to load; first: ${this.skippedFiles[0]?.file}: ${this.skippedFiles[0]?.reason}`);
      }
    }
  }

  /** The rest of the current epoch (a whole epoch when called at its start), batch by batch. */
  async *epochBatches(): AsyncGenerator<ImageBatch> {
    if (this.samples === 0) return;
    const epoch = this.epoch;
    while (this.epoch === epoch) {
      const batch = await this.serial(() => (this.epoch === epoch ? this.collect() : Promise.resolve(null)));
      if (batch) yield batch;
    }
  }

  /** Endless, like a Keras iterator: use epochBatches() for one epoch. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ImageBatch> {
    for (;;) yield await this.next();
  }

  /** Restarts the current epoch from its first batch (same order). */
  reset(): void {
    this.position = 0;
    this.inflight.clear();
  }

  getState(): IteratorState {
    return { seed: this.seed, epoch: this.epoch, position: this.position, batchesSeen: this.batchesSeen };
  }

  /** Resumes where getState() was taken (the seed must be the same: it fixes orders and augmentations). */
  setState(state: IteratorState): void {
    if (state.seed !== this.seed) throw invalidArgument('state.seed', state.seed, `this iterator's seed ${this.seed} (create the iterator with seed: ${state.seed})`);
    if (!Number.isInteger(state.epoch) || state.epoch < 0) throw invalidArgument('state.epoch', state.epoch, 'an integer >= 0');
    if (!Number.isInteger(state.position) || state.position < 0 || state.position > this.samples) throw invalidArgument('state.position', state.position, `an integer in [0, ${this.samples}]`);
    this.epoch = state.epoch;
    this.position = state.position;
    this.batchesSeen = state.batchesSeen ?? 0;
    this.inflight.clear();
    if (this.position >= this.samples) this.nextEpoch();
  }

  /** Stops background work (worker threads). */
  async close(): Promise<void> {
    this.inflight.clear();
  }
}
