// Frozen-prefix features computed once and reused across epochs, when no augmentation touches the
// inputs. Keyed by sha256(file content) + the model fingerprint (the exported prefix's hash: architecture,
// cut and weights) + a description of the preprocessing (size, interpolation, preprocess mode...), so a
// changed image, model or pipeline never reads stale features. In memory, and optionally on disk
// (one raw little-endian float32 file per image, written to a temporary name and renamed).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileError, invalidArgument, TlkitError } from '../../core/errors.js';
import { tf } from '../tfjs/tf.js';

export interface FeatureCacheOptions {
  /** The frozen engine's `fingerprint`. */
  modelFingerprint: string;
  /** Everything that turns a file into the model's input: a string or a JSON-able object. */
  preprocessing: string | Record<string, unknown>;
  /** Directory for the on-disk cache; omit to cache in memory only. */
  dir?: string;
  /** Also keep features in memory (default true). With `dir`, false trades speed for RAM. */
  memory?: boolean;
}

export interface FeatureSource {
  /** Features (shape [n, ...featureShape]) of a NHWC batch. */
  features(x: tf.Tensor): Promise<tf.Tensor>;
}

export interface FeatureCacheStats {
  hits: number;
  misses: number;
}

export class FeatureCache {
  readonly dir?: string;
  readonly stats: FeatureCacheStats = { hits: 0, misses: 0 };
  private readonly salt: string;
  private readonly memory?: Map<string, Float32Array>;
  private readonly fileHashes = new Map<string, { size: number; mtimeMs: number; hash: string }>();

  constructor(options: FeatureCacheOptions) {
    if (!options || typeof options.modelFingerprint !== 'string' || options.modelFingerprint === '') {
      throw invalidArgument('modelFingerprint', options?.modelFingerprint, "a non-empty string (the frozen engine's fingerprint)");
    }
    if (options.preprocessing === undefined || options.preprocessing === null) {
      throw invalidArgument('preprocessing', options.preprocessing, 'a string or an object describing the preprocessing');
    }
    const preprocessing = typeof options.preprocessing === 'string' ? options.preprocessing : stableJson(options.preprocessing);
    this.salt = `${options.modelFingerprint}\n${preprocessing}`;
    this.dir = options.dir;
    if (options.memory !== false || !options.dir) this.memory = new Map();
  }

  /** The cache key of an image given its content hash. */
  keyOf(contentHash: string): string {
    return createHash('sha256').update(`${contentHash}\n${this.salt}`).digest('hex');
  }

  /** sha256 of a file's bytes, remembered while its size and mtime stay the same. */
  async hashFile(file: string): Promise<string> {
    let info;
    try {
      info = await stat(file);
    } catch (error) {
      throw new FileError(file, `cannot read: ${(error as Error).message}`, { cause: error });
    }
    const known = this.fileHashes.get(file);
    if (known && known.size === info.size && known.mtimeMs === info.mtimeMs) return known.hash;
    const hash = createHash('sha256').update(await readFile(file)).digest('hex');
    this.fileHashes.set(file, { size: info.size, mtimeMs: info.mtimeMs, hash });
    return hash;
  }

  async get(key: string, size: number): Promise<Float32Array | undefined> {
    const inMemory = this.memory?.get(key);
    if (inMemory) return inMemory;
    if (!this.dir) return undefined;
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(key));
    } catch {
      return undefined;
    }
    // A truncated or foreign file is a miss, not an error: it gets recomputed and rewritten.
    if (bytes.byteLength !== size * 4) return undefined;
    const data = new Float32Array(size);
    new Uint8Array(data.buffer).set(bytes);
    this.memory?.set(key, data);
    return data;
  }

  async set(key: string, data: Float32Array): Promise<void> {
    this.memory?.set(key, data);
    if (!this.dir) return;
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      await rename(temporary, file);
    } catch (error) {
      throw new FileError(file, `cannot write cached features: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Features of `files` in order, from the cache where present; the missing ones are loaded with
   * `load` (one NHWC batch of just those files, preprocessed), run through `engine`, and stored.
   */
  async featuresFor(
    files: readonly string[],
    featureShape: readonly (number | null)[],
    load: (files: string[]) => Promise<tf.Tensor>,
    engine: FeatureSource,
  ): Promise<tf.Tensor> {
    const rowShape = featureShape.slice(1);
    if (rowShape.some((d) => d === null)) throw invalidArgument('featureShape', featureShape, 'known sizes after the batch axis');
    const rowSize = (rowShape as number[]).reduce((a, b) => a * b, 1);
    const keys = await Promise.all(files.map(async (f) => this.keyOf(await this.hashFile(f))));
    const rows: (Float32Array | undefined)[] = await Promise.all(keys.map((k) => this.get(k, rowSize)));
    const missing = rows.flatMap((row, i) => (row ? [] : [i]));
    this.stats.hits += files.length - missing.length;
    this.stats.misses += missing.length;
    if (missing.length > 0) {
      const batch = await load(missing.map((i) => files[i]));
      const features = await engine.features(batch);
      batch.dispose();
      const data = (await features.data()) as Float32Array;
      features.dispose();
      if (data.length !== missing.length * rowSize) {
        throw new TlkitError(`feature cache: the engine returned ${data.length} values for ${missing.length} images of ${rowSize} features`);
      }
      await Promise.all(
        missing.map((fileIndex, j) => {
          const row = data.slice(j * rowSize, (j + 1) * rowSize);
          rows[fileIndex] = row;
          return this.set(keys[fileIndex], row);
        }),
      );
    }
    const out = new Float32Array(files.length * rowSize);
    rows.forEach((row, i) => out.set(row!, i * rowSize));
    return tf.tensor(out, [files.length, ...(rowShape as number[])], 'float32');
  }

  private pathOf(key: string): string {
    return path.join(this.dir!, key.slice(0, 2), `${key}.f32`);
  }
}

/** JSON with sorted keys, so equal objects give equal keys. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
