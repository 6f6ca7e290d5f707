// Wraps an image iterator so it yields frozen-prefix features instead of images: the fast-engine
// path of training with a frozen backbone. When the images are the same every epoch (no augmentation),
// each sample's features are computed once and kept in memory by sample index.
import { tf } from '../../engines/tfjs/tf.js';
import type { Batch, BatchIterator } from '../../data/batch.js';

export interface FeatureExtractor {
  features(x: tf.Tensor): Promise<tf.Tensor>;
}

export class FeatureIterator implements BatchIterator {
  private readonly cache?: Map<number, Float32Array>;
  /** Samples whose features came from the cache / were computed, for reports and tests. */
  readonly stats = { hits: 0, misses: 0 };

  constructor(
    private readonly inner: BatchIterator,
    private readonly extractor: FeatureExtractor,
    options: { cache: boolean },
  ) {
    if (options.cache) this.cache = new Map();
    if (options.cache) inner.readEachImageOnce?.(); // features cached: the pixels are not read again
  }

  get length(): number {
    return this.inner.length;
  }
  get samples(): number | undefined {
    return this.inner.samples;
  }
  get batchSize(): number | undefined {
    return this.inner.batchSize;
  }
  get classes(): ArrayLike<number> | undefined {
    return this.inner.classes;
  }
  get classNames(): string[] | undefined {
    return this.inner.classNames;
  }
  get filepaths(): string[] | undefined {
    return this.inner.filepaths;
  }

  async next(): Promise<Batch> {
    return this.toFeatures(await this.pull(() => this.inner.next()));
  }

  /** Present exactly when the inner iterator has it (see BatchIterator.epochBatches). */
  get epochBatches(): (() => AsyncIterable<Batch>) | undefined {
    const inner = this.inner;
    if (!inner.epochBatches) return undefined;
    const self = this;
    return async function* () {
      const batches = inner.epochBatches!()[Symbol.asyncIterator]();
      for (;;) {
        const step = await self.pull(() => batches.next());
        if (step.done) return;
        yield await self.toFeatures(step.value);
      }
    };
  }

  private async toFeatures(batch: Batch): Promise<Batch> {
    const indices = batch.indices;
    const cached = this.cache && indices ? indices.map((i) => this.cache!.get(i)) : undefined;
    if (cached && cached.every((row) => row !== undefined)) {
      this.stats.hits += cached.length;
      batch.x.dispose();
      const rowSize = cached[0]!.length;
      const data = new Float32Array(cached.length * rowSize);
      cached.forEach((row, i) => data.set(row!, i * rowSize));
      return { x: tf.tensor(data, [cached.length, ...this.rowShape!]), y: batch.y, indices };
    }
    if (batch.x.size === 0) {
      batch.x.dispose();
      throw new Error('FeatureIterator: a batch without pixels for samples whose features are not cached (was the inner iterator shared?)');
    }
    let features: tf.Tensor;
    try {
      features = await this.extractor.features(batch.x);
    } finally {
      batch.x.dispose();
    }
    this.stats.misses += features.shape[0];
    if (this.cache && indices) {
      this.rowShape = features.shape.slice(1);
      const data = (await features.data()) as Float32Array;
      const rowSize = data.length / features.shape[0];
      indices.forEach((sample, i) => this.cache!.set(sample, data.slice(i * rowSize, (i + 1) * rowSize)));
      this.complete ||= this.cache.size >= (this.inner.samples ?? Infinity) - ((this.inner as { skippedFiles?: unknown[] }).skippedFiles?.length ?? 0);
    }
    return { x: features, y: batch.y, indices };
  }

  private rowShape?: number[];

  /** Every readable sample's features are cached. */
  private complete = false;

  /**
   * Pulls from the inner iterator; once the cache is complete, without decoding images when the inner
   * iterator can skip them (pixelsNeeded), so an epoch over cached features costs only the head's work.
   * The inner iterator reads pixels again for anyone else.
   */
  private async pull<T>(step: () => Promise<T>): Promise<T> {
    const inner = this.inner as { pixelsNeeded?: boolean };
    if (!this.complete || inner.pixelsNeeded === undefined) return step();
    inner.pixelsNeeded = false;
    try {
      return await step();
    } finally {
      inner.pixelsNeeded = true;
    }
  }

  /** The features computed so far by sample index, with one row's shape; undefined without a cache. */
  cachedRows(): { rows: ReadonlyMap<number, Float32Array>; shape: number[] } | undefined {
    return this.cache && this.rowShape ? { rows: this.cache, shape: this.rowShape } : undefined;
  }

  reset(): void {
    this.inner.reset();
  }

  getState(): unknown {
    return this.inner.getState?.();
  }

  setState(state: unknown): void {
    this.inner.setState?.(state);
  }
}
