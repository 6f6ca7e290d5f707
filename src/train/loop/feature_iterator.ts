// Wraps an image iterator so it yields frozen-prefix features instead of images: the fast-engine
// path of training with a frozen backbone. When the images are the same every epoch (no augmentation),
// each sample's features are computed once: into feature stores on disk (`stores`: one per boundary the
// prefix outputs, so one forward pass writes what every later phase needs), read back batch by batch, so
// memory does not grow with the number of images; or, without stores, kept in memory by sample index.
import { tf } from '../../engines/tfjs/tf.js';
import { FeatureStoreFullError, type FeatureStore } from '../../engines/feature_store/feature_store.js';
import type { OnnxOutput } from '../../engines/onnx/session.js';
import type { Batch, BatchIterator } from '../../data/batch.js';

export interface FeatureExtractor {
  features(x: tf.Tensor): Promise<tf.Tensor>;
  /** Every tensor the prefix outputs, [0] being what `features` returns (FrozenEngine.outputsOf). */
  outputsOf?(x: tf.Tensor): Promise<OnnxOutput[]>;
}

/** Where features are kept across epochs, phases and runs. */
export interface FeatureStores {
  /** One store per extractor output ([0]: the features this iterator yields); extra outputs are only written. */
  stores: FeatureStore[];
  /** The store key of a sample (its file's identity), or undefined when it has none (not stored). */
  keyOf: (sample: number) => string | undefined;
}

export interface FeatureIteratorOptions {
  /** Keep features across epochs (the images never change). */
  cache: boolean;
  /** With cache: keep them in these stores instead of in memory. */
  stores?: FeatureStores;
}

/** What the iterator did, sample by sample: each sample counts once, when first yielded. */
export interface FeatureCounts {
  fromStore: number;
  computed: number;
  /** Seconds spent computing features (the frozen prefix's forward passes, store writes included). */
  computeSeconds: number;
}

export class FeatureIterator implements BatchIterator {
  private readonly cache?: Map<number, Float32Array>;
  private readonly stores?: FeatureStores;
  /** Batches served from memory or a store / rows computed, for reports and tests. */
  readonly stats = { hits: 0, misses: 0 };
  /** Per sample, counted the first time it is yielded (see FeatureCounts). */
  readonly counts: FeatureCounts = { fromStore: 0, computed: 0, computeSeconds: 0 };
  private seen?: Uint8Array;

  constructor(
    private readonly inner: BatchIterator,
    private readonly extractor: FeatureExtractor,
    options: FeatureIteratorOptions,
  ) {
    if (options.cache && options.stores) this.stores = options.stores;
    else if (options.cache) this.cache = new Map();
    // Features kept (in a store or in memory): the pixels are not read again.
    if (options.cache) inner.readEachImageOnce?.();
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

  private count(indices: readonly number[] | undefined, computed: ReadonlySet<number>): void {
    if (!indices) return;
    const samples = this.inner.samples ?? 0;
    this.seen ??= new Uint8Array(samples);
    for (let i = 0; i < indices.length; i++) {
      const s = indices[i];
      if (s < this.seen.length && this.seen[s]) continue;
      if (s < this.seen.length) this.seen[s] = 1;
      if (computed.has(i)) this.counts.computed++;
      else this.counts.fromStore++;
    }
  }

  private async toFeatures(batch: Batch): Promise<Batch> {
    if (this.stores && batch.indices) return this.fromStores(batch, batch.indices, this.stores);
    const indices = batch.indices;
    const cached = this.cache && indices ? indices.map((i) => this.cache!.get(i)) : undefined;
    if (cached && cached.every((row) => row !== undefined)) {
      this.stats.hits += cached.length;
      this.count(indices, new Set());
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
    this.count(indices, new Set(indices?.map((_, i) => i)));
    if (this.cache && indices) {
      this.rowShape = features.shape.slice(1);
      const data = (await features.data()) as Float32Array;
      const rowSize = data.length / features.shape[0];
      indices.forEach((sample, i) => this.cache!.set(sample, data.slice(i * rowSize, (i + 1) * rowSize)));
      this.complete ||= this.cache.size >= (this.inner.samples ?? Infinity) - ((this.inner as { skippedFiles?: unknown[] }).skippedFiles?.length ?? 0);
    }
    return { x: features, y: batch.y, indices };
  }

  /**
   * A batch from the stores: rows present in every store are read; the others are computed from the
   * batch's pixels (or, when the batch came without pixels, pixels loaded for just those samples),
   * written to every store, and used as stored (so a later read gives the same values).
   */
  private async fromStores(batch: Batch, indices: number[], s: FeatureStores): Promise<Batch> {
    const [primary, ...extras] = s.stores;
    const keys = indices.map((i) => s.keyOf(i));
    const rows = await Promise.all(keys.map((k) => (k === undefined ? undefined : primary.get(k))));
    // Computed again: rows missing from the primary store or from any other output's store. A row the
    // primary store already has keeps its stored values (a recomputation may differ in the last bits).
    const missing = rows.flatMap((row, i) => (row && extras.every((e) => e.has(keys[i]!)) ? [] : [i]));
    const started = performance.now();
    if (missing.length > 0) {
      let x: tf.Tensor;
      if (batch.x.size === 0) {
        const loadBatch = (this.inner as { loadBatch?: (indices: number[]) => Promise<tf.Tensor> }).loadBatch;
        if (!loadBatch) throw new Error('FeatureIterator: features missing from the store for a batch read without pixels');
        // Written back below: the store is whole again, so later batches still skip pixels.
        x = await loadBatch.call(this.inner, missing.map((i) => indices[i]));
      } else if (missing.length === indices.length) {
        x = batch.x.clone();
      } else {
        x = tf.gather(batch.x, missing);
      }
      let outputs: OnnxOutput[];
      try {
        outputs = this.extractor.outputsOf ? await this.extractor.outputsOf(x) : [await toOutput(await this.extractor.features(x))];
      } finally {
        x.dispose();
      }
      for (let o = 0; o < s.stores.length && o < outputs.length; o++) {
        const size = s.stores[o].recordSize;
        const data = outputs[o].data;
        const storable = missing.filter((i) => keys[i] !== undefined);
        const stored = await s.stores[o]
          .put(
            storable.map((i) => keys[i]!),
            storable.map((i) => data.subarray(missing.indexOf(i) * size, (missing.indexOf(i) + 1) * size)),
          )
          .catch((error: unknown) => {
            // Say how much the whole pass still needs, not just this batch.
            if (!(error instanceof FeatureStoreFullError)) throw error;
            const left = Math.max(missing.length, (this.inner.samples ?? 0) - this.counts.computed - this.counts.fromStore);
            throw new FeatureStoreFullError(error.dir, left * s.stores.reduce((sum, st) => sum + st.recordBytes, 0), { cause: error });
          });
        if (o === 0) {
          storable.forEach((i, j) => (rows[i] ??= stored[j]));
          // Rows with no key (an unreadable file's stat) are used as computed.
          missing.forEach((i, j) => (rows[i] ??= data.slice(j * size, (j + 1) * size)));
        }
      }
      this.stats.misses += missing.length;
      this.pendingCheck = true;
      this.counts.computeSeconds += (performance.now() - started) / 1000;
    }
    batch.x.dispose();
    this.stats.hits += indices.length - missing.length;
    this.count(indices, new Set(missing));
    const size = primary.recordSize;
    const data = new Float32Array(indices.length * size);
    rows.forEach((row, i) => data.set(row!, i * size));
    return { x: tf.tensor(data, [indices.length, ...primary.shape]), y: batch.y, indices };
  }

  private rowShape?: number[];

  /** Every readable sample's features are cached. */
  private complete = false;
  /** With stores: whether to look again (at most once an epoch) if every sample is stored. */
  private pendingCheck = true;
  private batchesSinceCheck = Infinity;

  /** With stores: every sample (but those found unreadable) has a key present in every store. */
  private storesComplete(): boolean {
    const s = this.stores!;
    const samples = this.inner.samples ?? 0;
    const skipped = new Set(((this.inner as { skippedFiles?: { file: string }[] }).skippedFiles ?? []).map((f) => f.file));
    const files = this.inner.filepaths;
    for (let i = 0; i < samples; i++) {
      const key = s.keyOf(i);
      if (key !== undefined && s.stores.every((store) => store.has(key))) continue;
      if (files && skipped.has(files[i])) continue;
      return false;
    }
    return samples > 0;
  }

  /**
   * Pulls from the inner iterator; once the cache is complete, without decoding images when the inner
   * iterator can skip them (pixelsNeeded), so an epoch over cached features costs only the head's work.
   * The inner iterator reads pixels again for anyone else.
   */
  private async pull<T>(step: () => Promise<T>): Promise<T> {
    const inner = this.inner as { pixelsNeeded?: boolean };
    if (this.stores && !this.complete && inner.pixelsNeeded !== undefined) {
      this.batchesSinceCheck++;
      if (this.pendingCheck && this.batchesSinceCheck >= this.length) {
        this.batchesSinceCheck = 0;
        this.pendingCheck = false;
        this.complete = this.storesComplete();
      }
    }
    if (!this.complete || inner.pixelsNeeded === undefined) return step();
    inner.pixelsNeeded = false;
    try {
      return await step();
    } finally {
      inner.pixelsNeeded = true;
    }
  }

  /** The features computed so far by sample index, with one row's shape; undefined without an in-memory cache. */
  cachedRows(): { rows: ReadonlyMap<number, Float32Array>; shape: number[] } | undefined {
    return this.cache && this.rowShape ? { rows: this.cache, shape: this.rowShape } : undefined;
  }

  /**
   * With stores and every sample stored: the features in sample order, `batch` samples at a time,
   * read from the store without touching the inner iterator (its order and state stay as they were).
   * Undefined otherwise.
   */
  storedRows(batch = 256): { shape: number[]; samples: number; rows: AsyncIterable<{ indices: number[]; data: Float32Array }> } | undefined {
    if (!this.stores || !this.storesComplete()) return undefined;
    const { stores, keyOf } = this.stores;
    const samples = this.inner.samples ?? 0;
    const store = stores[0];
    async function* rows() {
      for (let start = 0; start < samples; start += batch) {
        const indices: number[] = [];
        const values: Float32Array[] = [];
        for (let i = start; i < Math.min(samples, start + batch); i++) {
          const key = keyOf(i);
          const row = key === undefined ? undefined : await store.get(key);
          if (!row) continue;
          indices.push(i);
          values.push(row);
        }
        const data = new Float32Array(indices.length * store.recordSize);
        values.forEach((v, i) => data.set(v, i * store.recordSize));
        yield { indices, data };
      }
    }
    return { shape: store.shape, samples, rows: rows() };
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

async function toOutput(t: tf.Tensor): Promise<OnnxOutput> {
  try {
    return { data: (await t.data()) as Float32Array, shape: t.shape.slice() };
  } finally {
    t.dispose();
  }
}
