// The feature stores of one run: which store each (iterator, frozen boundary) pair reads and writes,
// the log line that says what came from them, and the pruning after the run.
//
// A store's fingerprint is the boundary's (architecture up to the cut, frozen weights, onnxruntime; see
// FrozenBoundary) with what turns a file into the model input (decode size, interpolation, preprocess
// mode, rescale), the storage precision and how files are identified. Data that cannot be described that
// way (in-memory arrays, a custom preprocessing function) gets a store of this run only, in a temporary
// folder removed at the end: bounded memory all the same, no reuse.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveCacheDir } from '../../engines/onnx/compiled_cache.js';
import type { FrozenEngine } from '../../engines/onnx/frozen_features.js';
import { openFeatureStore, formatBytes, type FeaturePrecision, type FeatureStore } from '../../engines/feature_store/feature_store.js';
import { fileIdentityKeys, type FileIdentityMode } from '../../engines/feature_store/file_identity.js';
import { pruneCache } from '../../engines/feature_store/cache_admin.js';
import { formatCount } from '../../core/format.js';
import { isDeterministic, type BatchIterator } from '../../data/batch.js';
import type { FeatureCounts, FeatureStores } from '../loop/feature_iterator.js';

export interface FeatureStoreSettings {
  /**
   * Cache root the feature stores go under (`<dir>/features/`); false: no store kept after the run
   * (features still go to a temporary on-disk store, so memory stays bounded). Default: the
   * compiled-graph cache's root ($TLKIT_CACHE_DIR, else $XDG_CACHE_HOME/tlkit, else ~/.cache/tlkit).
   */
  featureStore?: string | false;
  /** Storage precision of features: 'float16' (default; half the disk and I/O) or 'float32'. */
  featurePrecision?: FeaturePrecision;
  /** How an image is identified: 'stat' (path, size, mtime; default) or 'content' (sha256 of its bytes). */
  featureIdentity?: FileIdentityMode;
  /** Bytes the feature stores may keep after the run, least recently used stores removed first. Default 20 GB. */
  featureStoreBudget?: number;
}

export const DEFAULT_FEATURE_STORE_BUDGET = 20e9;

export class RunFeatureStores {
  private readonly opened = new Map<string, Promise<FeatureStore>>();
  private readonly keys = new WeakMap<BatchIterator, Promise<(string | undefined)[]>>();
  private readonly runIds = new WeakMap<BatchIterator, string>();
  private temporaryRoot?: string;
  private readonly counted: FeatureCounts[] = [];

  constructor(
    private readonly settings: FeatureStoreSettings,
    /** Shown by `tlkit cache` (the backbone's id...): not part of any store's identity. */
    private readonly about: Record<string, unknown> = {},
  ) {}

  /** The persistent root, or false. */
  get root(): string | false {
    if (this.settings.featureStore === false) return false;
    return this.settings.featureStore ?? resolveCacheDir(undefined);
  }

  /** The stores `iterator`'s features go to for every boundary `engine` outputs; undefined when its samples change every epoch. */
  async forIterator(iterator: BatchIterator, engine: FrozenEngine): Promise<FeatureStores | undefined> {
    if (!isDeterministic(iterator)) return undefined;
    const pixels = (iterator as { describePixels?: () => Record<string, unknown> | undefined }).describePixels?.();
    const files = iterator.filepaths;
    const root = this.root;
    if (pixels && files && root) {
      const stores = await this.persistentStores(root, pixels, engine);
      const keys = await this.keysOf(iterator, files, this.identity);
      return { stores, keyOf: (i) => keys[i] };
    }
    let runId = this.runIds.get(iterator);
    if (!runId) this.runIds.set(iterator, (runId = randomBytes(8).toString('hex')));
    const temporary = await this.temporary();
    const precision = this.precision;
    const stores = await Promise.all(engine.boundaries.map((b) => this.open(temporary, digest({ boundary: b.fingerprint, runId, precision }), b.shape, precision, { boundary: b.layerName, temporary: true })));
    return { stores, keyOf: (i) => `s${i}` };
  }

  /**
   * The persistent stores of `files` turned into model input as `pixels` describes (what a deterministic
   * iterator over them would describe), for every boundary `engine` outputs; undefined without a
   * persistent root. For readers that hold files, not an iterator (`tlkit predict`).
   */
  async forFiles(files: string[], pixels: Record<string, unknown>, engine: FrozenEngine): Promise<FeatureStores | undefined> {
    const root = this.root;
    if (!root) return undefined;
    const stores = await this.persistentStores(root, pixels, engine);
    const keys = await fileIdentityKeys(files, this.identity);
    return { stores, keyOf: (i) => keys[i] };
  }

  private get precision(): FeaturePrecision {
    return this.settings.featurePrecision ?? 'float16';
  }

  private get identity(): FileIdentityMode {
    return this.settings.featureIdentity ?? 'stat';
  }

  private persistentStores(root: string, pixels: Record<string, unknown>, engine: FrozenEngine): Promise<FeatureStore[]> {
    const { precision, identity } = this;
    return Promise.all(
      engine.boundaries.map((b) => this.open(root, digest({ boundary: b.fingerprint, pixels, precision, identity }), b.shape, precision, { ...this.about, boundary: b.layerName, pixels })),
    );
  }

  /** Counts of an iterator to include in the log line. */
  track(counts: FeatureCounts): void {
    if (!this.counted.includes(counts)) this.counted.push(counts);
  }

  /**
   * `features: 24,000 from the store, 1,000 computed (3.2 GB on disk)`, over the iterators tracked since
   * the last call (one line a phase).
   */
  async describe(): Promise<string | undefined> {
    const fromStore = this.counted.reduce((s, c) => s + c.fromStore, 0);
    const computed = this.counted.reduce((s, c) => s + c.computed, 0);
    const seconds = this.counted.reduce((s, c) => s + c.computeSeconds, 0);
    this.counted.length = 0;
    if (fromStore + computed === 0) return undefined;
    let bytes = 0;
    for (const store of this.opened.values()) bytes += await (await store).diskBytes();
    const where = this.root === false ? ' (no persistent store)' : '';
    const rate = computed > 0 && seconds > 0 ? `; computed at ${(computed / seconds).toFixed(1)} img/s` : '';
    return `features: ${formatCount(fromStore)} from the store, ${formatCount(computed)} computed (${formatBytes(bytes)} on disk${rate})${where}`;
  }

  /** Closes every store, removes this run's temporary ones, and prunes the persistent root to its budget. */
  async close(): Promise<void> {
    const stores = await Promise.all([...this.opened.values()].map((p) => p.catch(() => undefined)));
    await Promise.all(stores.map((s) => s?.close()));
    if (this.temporaryRoot) await fs.rm(this.temporaryRoot, { recursive: true, force: true }).catch(() => undefined);
    const root = this.root;
    if (root && stores.some((s) => s && !s.dir.startsWith(this.temporaryRoot ?? '\0'))) {
      const keep = stores.flatMap((s) => (s ? [s.dir] : []));
      await pruneCache(root, { maxBytes: this.settings.featureStoreBudget ?? DEFAULT_FEATURE_STORE_BUDGET, kinds: ['feature-store'], keep }).catch(() => undefined);
    }
  }

  private open(root: string, fingerprint: string, shape: number[], precision: FeaturePrecision, about: Record<string, unknown>): Promise<FeatureStore> {
    const key = `${root}\n${fingerprint}`;
    let store = this.opened.get(key);
    if (!store) {
      store = openFeatureStore(root, { fingerprint, shape, precision, about });
      this.opened.set(key, store);
    }
    return store;
  }

  private keysOf(iterator: BatchIterator, files: string[], identity: FileIdentityMode): Promise<(string | undefined)[]> {
    let keys = this.keys.get(iterator);
    if (!keys) this.keys.set(iterator, (keys = fileIdentityKeys(files, identity)));
    return keys;
  }

  private async temporary(): Promise<string> {
    this.temporaryRoot ??= await fs.mkdtemp(path.join(os.tmpdir(), 'tlkit-run-features-'));
    return this.temporaryRoot;
  }
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}
