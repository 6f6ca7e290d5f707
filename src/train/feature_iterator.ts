// Wraps an image iterator so it yields frozen-prefix features instead of images: the fast-engine
// path of training with a frozen backbone. When the images are the same every epoch (no augmentation),
// each sample's features are computed once and kept in memory by sample index.
import { tf } from '../engines/tfjs/tf.js';
import type { Batch, BatchIterator } from '../data/batch.js';

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
    return this.toFeatures(await this.inner.next());
  }

  /** Present exactly when the inner iterator has it (see BatchIterator.epochBatches). */
  get epochBatches(): (() => AsyncIterable<Batch>) | undefined {
    const inner = this.inner;
    if (!inner.epochBatches) return undefined;
    const self = this;
    return async function* () {
      for await (const batch of inner.epochBatches!()) yield await self.toFeatures(batch);
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
    }
    return { x: features, y: batch.y, indices };
  }

  private rowShape?: number[];

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
