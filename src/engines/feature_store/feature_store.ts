// The on-disk feature store: what a frozen prefix computes for each image, kept so that no image goes
// through the same frozen layers twice - across epochs, phases, runs of a sweep, later runs on the same
// data, and processes sharing a folder.
//
// One store is one directory per prefix fingerprint (architecture, frozen weights, boundary layer,
// input size, preprocessing, onnxruntime version, precision: the caller's `fingerprint`), holding
// fixed-size records keyed by an image's identity (fileIdentityKey: resolved path, size, mtime, or a
// content hash).
//
//   <root>/features/<fingerprint 32 hex>/
//     meta.json              what the store holds (shape, precision, about), written once, atomically
//     w-<pid>-<rand>.rec     one writer's records, appended (record i at byte i * recordBytes)
//     w-<pid>-<rand>.idx     its index: one line `key record crc32` per record, appended after the record
//
// Every writer (process, or store opened twice) has its own pair of files, so two workers writing the
// same key never touch the same bytes: both copies are whole and either one is read. A line is appended
// only after its record's bytes are written; a reader takes only complete lines and checks each record's
// crc32 when it reads it, so a killed writer (a torn last line, a record never finished, a truncated
// file) leaves entries that read as missing and are computed again. Nothing is ever rewritten in place,
// so deleting the directory (or a writer's pair) at any time is safe: open readers keep their file
// handles and missing entries are recomputed.
//
// Reads are positioned reads of one record (never a whole file). Records read or written are also kept
// in memory as stored (float16 records take half the room of their values), up to memoryBudgetBytes;
// once that is full nothing more is admitted and nothing is evicted: training reads every record once
// an epoch in a new order, which a least-recently-used cache smaller than the set turns into misses
// only, while a fixed set in memory serves its share of every epoch (all of it when the set fits: a
// head trained on pooled features reads no disk after its first epoch).
//
// Records are float16 (default: half the disk and I/O; see docs/feature-store.md for what it changes)
// or float32, little-endian.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { atomicWriteText } from '../../core/atomic_write.js';
import { FileError, invalidArgument } from '../../core/errors.js';
import { decodeHalf, encodeHalf } from './float16.js';

export type FeaturePrecision = 'float16' | 'float32';
export const FEATURE_PRECISIONS: readonly FeaturePrecision[] = ['float16', 'float32'];

/** What a store holds; equal descriptions (by fingerprint) open the same directory. */
export interface FeatureStoreDescription {
  /** Hex digest of everything that decides the features (see the file comment); names the directory. */
  fingerprint: string;
  /** One record's shape, without the batch axis (e.g. [7, 7, 1280]). */
  shape: number[];
  precision: FeaturePrecision;
  /** For listings only (backbone, boundary layer, input size...): not part of the identity. */
  about?: Record<string, unknown>;
}

/** The write the store uses for records; tests substitute one that fails (ENOSPC). */
export type RecordWrite = (handle: fs.FileHandle, data: Uint8Array, position: number) => Promise<void>;

export interface FeatureStoreOptions {
  /** Bytes of records kept in memory as stored (the first ones read or written; see the file comment). Default 128 MiB. */
  memoryBudgetBytes?: number;
  /** Open for reading only: puts return the stored-precision values but write nothing. */
  readOnly?: boolean;
  /** Replaces the record write (tests). */
  write?: RecordWrite;
}

export interface FeatureStoreMeta {
  format: 'tlkit-feature-store';
  version: 1;
  fingerprint: string;
  shape: number[];
  precision: FeaturePrecision;
  recordBytes: number;
  about: Record<string, unknown>;
  createdAt: string;
}

/** A full disk (or quota): where, and how many more bytes this store needed. Nothing stored is lost. */
export class FeatureStoreFullError extends FileError {
  constructor(
    readonly dir: string,
    readonly bytesNeeded: number,
    options?: { cause?: unknown },
  ) {
    super(
      dir,
      `no space left for the feature store: it needs about ${formatBytes(bytesNeeded)} more. What is stored stays readable; ` +
        'free space, move the store (--feature-store DIR), prune it (tlkit cache prune) or turn it off (--no-feature-store)',
      options,
    );
  }
}

export const DEFAULT_STORE_MEMORY_BYTES = 128 * 1024 ** 2;
const FINGERPRINT = /^[0-9a-f]{32,}$/;

/** The directory of the store with `fingerprint` under `root` (a cache root: see featureStoreRoot). */
export function featureStoreDir(root: string, fingerprint: string): string {
  return path.join(root, 'features', fingerprint.slice(0, 32));
}

interface Location {
  writer: string;
  record: number;
  crc: number;
}

/** Opens (creating when absent) the store for `description` under `root`. */
export async function openFeatureStore(root: string, description: FeatureStoreDescription, options: FeatureStoreOptions = {}): Promise<FeatureStore> {
  if (!FINGERPRINT.test(description.fingerprint)) throw invalidArgument('fingerprint', description.fingerprint, 'a hex digest of at least 32 characters');
  if (!FEATURE_PRECISIONS.includes(description.precision)) throw invalidArgument('precision', description.precision, FEATURE_PRECISIONS.join(' or '));
  if (!description.shape.every((d) => Number.isInteger(d) && d > 0)) throw invalidArgument('shape', description.shape, 'positive integers');
  const dir = featureStoreDir(root, description.fingerprint);
  const floats = description.shape.reduce((a, b) => a * b, 1);
  const meta: FeatureStoreMeta = {
    format: 'tlkit-feature-store',
    version: 1,
    fingerprint: description.fingerprint,
    shape: description.shape,
    precision: description.precision,
    recordBytes: floats * (description.precision === 'float16' ? 2 : 4),
    about: description.about ?? {},
    createdAt: new Date().toISOString(),
  };
  let existing: FeatureStoreMeta | undefined;
  try {
    existing = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as FeatureStoreMeta;
  } catch {
    existing = undefined;
  }
  if (existing && (existing.fingerprint !== meta.fingerprint || existing.recordBytes !== meta.recordBytes || existing.precision !== meta.precision)) {
    throw new FileError(dir, `holds another feature store (fingerprint ${existing.fingerprint?.slice(0, 12)}, ${existing.recordBytes} bytes a record); delete the folder`);
  }
  if (!existing && !options.readOnly) {
    try {
      await fs.mkdir(dir, { recursive: true });
      await atomicWriteText(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    } catch (error) {
      if (isNoSpace(error)) throw new FeatureStoreFullError(dir, meta.recordBytes, { cause: error });
      throw error;
    }
  }
  const store = new FeatureStore(dir, existing ?? meta, options);
  await store.refresh();
  await store.touch();
  return store;
}

/** Reads a store directory's meta.json; undefined when it is not a store. */
export async function readStoreMeta(dir: string): Promise<FeatureStoreMeta | undefined> {
  try {
    const meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as FeatureStoreMeta;
    return meta.format === 'tlkit-feature-store' ? meta : undefined;
  } catch {
    return undefined;
  }
}

export class FeatureStore {
  readonly recordBytes: number;
  /** Floats in one record. */
  readonly recordSize: number;
  readonly shape: number[];
  readonly precision: FeaturePrecision;
  /** Records this store instance wrote, and records it read back (from disk or memory). */
  readonly stats = { written: 0, read: 0, bytesWritten: 0 };
  private readonly entries = new Map<string, Location>();
  private readonly consumed = new Map<string, number>();
  private readonly readers = new Map<string, Promise<fs.FileHandle>>();
  /** Records as stored (recordBytes each), by key. */
  private readonly memory = new Map<string, Uint8Array>();
  private memoryBytes = 0;
  private readonly memoryBudget: number;
  private readonly writerId = `w-${process.pid}-${randomBytes(4).toString('hex')}`;
  private writer?: { rec: fs.FileHandle; idx: fs.FileHandle; records: number; indexBytes: number };
  private chain: Promise<unknown> = Promise.resolve();
  private readonly write: RecordWrite;
  private readonly readOnly: boolean;
  /** Set when a write failed for a reason other than space (the folder was deleted...): later puts only round. */
  private writeFailure?: unknown;

  constructor(
    readonly dir: string,
    readonly meta: FeatureStoreMeta,
    options: FeatureStoreOptions,
  ) {
    this.recordBytes = meta.recordBytes;
    this.shape = meta.shape;
    this.precision = meta.precision;
    this.recordSize = meta.shape.reduce((a, b) => a * b, 1);
    this.memoryBudget = options.memoryBudgetBytes ?? DEFAULT_STORE_MEMORY_BYTES;
    this.write = options.write ?? defaultWrite;
    this.readOnly = options.readOnly ?? false;
  }

  /** Entries known (this writer's and every other writer's complete index lines read so far). */
  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Reads the index lines other writers appended since the last refresh. */
  async refresh(): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.endsWith('.idx')) continue;
      const writer = name.slice(0, -4);
      if (writer === this.writerId) continue;
      await this.readIndex(writer);
    }
  }

  private async readIndex(writer: string): Promise<void> {
    const from = this.consumed.get(writer) ?? 0;
    let text: string;
    let records: number;
    try {
      const handle = await fs.open(path.join(this.dir, `${writer}.idx`), 'r');
      try {
        const { size } = await handle.stat();
        if (size <= from) return;
        const buffer = Buffer.alloc(size - from);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
        text = buffer.subarray(0, bytesRead).toString('latin1');
      } finally {
        await handle.close();
      }
      records = Math.floor((await fs.stat(path.join(this.dir, `${writer}.rec`))).size / this.recordBytes);
    } catch {
      return;
    }
    // Only complete lines count; a torn last line is read again (whole) on a later refresh.
    const end = text.lastIndexOf('\n');
    if (end < 0) return;
    for (const line of text.slice(0, end).split('\n')) {
      const [key, recordText, crcText] = line.split(' ');
      const record = Number(recordText);
      const crc = Number(crcText);
      if (!key || !Number.isInteger(record) || record < 0 || record >= records || !Number.isInteger(crc)) continue;
      if (!this.entries.has(key)) this.entries.set(key, { writer, record, crc });
    }
    this.consumed.set(writer, from + end + 1);
  }

  /** The stored features of `key` (decoded to float32), or undefined when absent or damaged. */
  async get(key: string): Promise<Float32Array | undefined> {
    const inMemory = this.memory.get(key);
    if (inMemory) {
      this.stats.read++;
      return this.decode(inMemory);
    }
    const at = this.entries.get(key);
    if (!at) return undefined;
    const bytes = Buffer.allocUnsafe(this.recordBytes);
    try {
      const handle = await this.readerOf(at.writer);
      const { bytesRead } = await handle.read(bytes, 0, this.recordBytes, at.record * this.recordBytes);
      if (bytesRead !== this.recordBytes || crc32(bytes) !== at.crc) throw new Error('damaged record');
    } catch {
      // Truncated, damaged or deleted: forget it, so it is computed and written again.
      this.entries.delete(key);
      return undefined;
    }
    this.remember(key, bytes);
    this.stats.read++;
    return this.decode(bytes);
  }

  /** get() of each key, in order. */
  getMany(keys: readonly string[]): Promise<(Float32Array | undefined)[]> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  /**
   * Stores `rows` (each recordSize floats) under `keys` and returns them as stored (rounded to float16
   * when that is the precision), so the caller uses exactly what later reads return. Keys already
   * stored are not written again. Throws FeatureStoreFullError when the disk is full; other write
   * failures (the folder deleted meanwhile) turn writing off for this instance without failing the run.
   */
  async put(keys: readonly string[], rows: readonly Float32Array[]): Promise<Float32Array[]> {
    const stored: Float32Array[] = [];
    const bytes = Buffer.allocUnsafe(keys.length * this.recordBytes);
    const fresh: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      if (rows[i].length !== this.recordSize) throw invalidArgument('rows', `a row of ${rows[i].length} values`, `rows of ${this.recordSize} values (shape ${this.shape.join('x')})`);
      const record = bytes.subarray(i * this.recordBytes, (i + 1) * this.recordBytes);
      this.encode(rows[i], record);
      stored.push(this.precision === 'float32' ? rows[i].slice() : this.decode(record));
      if (!this.entries.has(keys[i]) && !fresh.some((j) => keys[j] === keys[i])) fresh.push(i);
    }
    fresh.forEach((i) => this.remember(keys[i], bytes.subarray(i * this.recordBytes, (i + 1) * this.recordBytes)));
    if (this.readOnly || this.writeFailure !== undefined || fresh.length === 0) return stored;
    const task = this.chain.then(() => this.append(fresh.map((i) => keys[i]), fresh.map((i) => bytes.subarray(i * this.recordBytes, (i + 1) * this.recordBytes))));
    this.chain = task.catch(() => undefined);
    await task;
    return stored;
  }

  private async append(keys: string[], records: Buffer[]): Promise<void> {
    try {
      const w = await this.openWriter();
      const data = Buffer.concat(records);
      await this.write(w.rec, data, w.records * this.recordBytes);
      const lines = Buffer.from(keys.map((k, i) => `${k} ${w.records + i} ${crc32(records[i])}\n`).join(''), 'latin1');
      await this.write(w.idx, lines, w.indexBytes);
      keys.forEach((key, i) => this.entries.set(key, { writer: this.writerId, record: w.records + i, crc: crc32(records[i]) }));
      w.records += keys.length;
      w.indexBytes += lines.length;
      this.stats.written += keys.length;
      this.stats.bytesWritten += data.length;
    } catch (error) {
      if (isNoSpace(error)) throw new FeatureStoreFullError(this.dir, records.length * this.recordBytes, { cause: error });
      this.writeFailure = error;
    }
  }

  private async openWriter(): Promise<NonNullable<FeatureStore['writer']>> {
    if (this.writer) return this.writer;
    await fs.mkdir(this.dir, { recursive: true });
    // 'wx': a new pair; positions are explicit, so a failed write is simply overwritten by the next one.
    const rec = await fs.open(path.join(this.dir, `${this.writerId}.rec`), 'wx+');
    const idx = await fs.open(path.join(this.dir, `${this.writerId}.idx`), 'wx');
    this.writer = { rec, idx, records: 0, indexBytes: 0 };
    this.readers.set(this.writerId, Promise.resolve(rec));
    return this.writer;
  }

  private readerOf(writer: string): Promise<fs.FileHandle> {
    // One handle per file, shared by concurrent reads (the promise is stored before it settles).
    let handle = this.readers.get(writer);
    if (!handle) {
      handle = fs.open(path.join(this.dir, `${writer}.rec`), 'r');
      this.readers.set(writer, handle);
      handle.catch(() => this.readers.delete(writer));
    }
    return handle;
  }

  private encode(row: Float32Array, out: Buffer): void {
    if (this.precision === 'float32') {
      out.set(new Uint8Array(row.buffer, row.byteOffset, row.byteLength));
    } else {
      encodeHalf(row, new Uint16Array(out.buffer, out.byteOffset, this.recordSize));
    }
  }

  /** A record's values as a new float32 array (callers may keep or change it). */
  private decode(bytes: Uint8Array): Float32Array {
    const out = new Float32Array(this.recordSize);
    if (this.precision === 'float32') {
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    // The bytes may not be 2-byte aligned in their buffer: copy when they are not.
    const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
    return decodeHalf(new Uint16Array(aligned.buffer, aligned.byteOffset, this.recordSize), out);
  }

  /** Keeps a copy of a record's stored bytes while the budget has room (see the file comment). */
  private remember(key: string, bytes: Uint8Array): void {
    if (this.memoryBytes + bytes.byteLength > this.memoryBudget || this.memory.has(key)) return;
    // A copy: `bytes` may be a view of a batch's buffer, which would stay alive whole.
    this.memory.set(key, new Uint8Array(bytes));
    this.memoryBytes += bytes.byteLength;
  }

  /** Bytes of this store's files on disk (every writer's). */
  async diskBytes(): Promise<number> {
    let total = 0;
    for (const name of await fs.readdir(this.dir).catch(() => [] as string[])) {
      total += (await fs.stat(path.join(this.dir, name)).catch(() => ({ size: 0 }))).size;
    }
    return total;
  }

  /** Marks the store as used now (pruning removes the least recently used stores first). */
  async touch(): Promise<void> {
    const now = new Date();
    await fs.utimes(path.join(this.dir, 'meta.json'), now, now).catch(() => undefined);
  }

  /** Waits for pending writes, flushes them to disk and closes every file. */
  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    if (this.writer) {
      await this.writer.rec.sync().catch(() => undefined);
      await this.writer.idx.sync().catch(() => undefined);
      await this.writer.idx.close().catch(() => undefined);
    }
    for (const handle of this.readers.values()) await (await handle.catch(() => undefined))?.close().catch(() => undefined);
    this.readers.clear();
    this.writer = undefined;
    this.memory.clear();
    this.memoryBytes = 0;
  }
}

async function defaultWrite(handle: fs.FileHandle, data: Uint8Array, position: number): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    const { bytesWritten } = await handle.write(data, offset, data.byteLength - offset, position + offset);
    offset += bytesWritten;
  }
}

function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code ?? ((error as { cause?: NodeJS.ErrnoException })?.cause?.code);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}
