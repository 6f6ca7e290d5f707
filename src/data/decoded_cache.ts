// Decoded pixels kept between epochs. A file decodes to the same pixels every epoch (augmentation draws
// its random transform afterwards, from those pixels), so reading and decoding it again, most of an
// epoch's data work, is wasted; tf.data users write `.cache()` for this. The pixels are kept as uint8 at
// the target size (what the decoder produced, a quarter of the float size) up to a memory budget; past
// it they spill to one file on disk (records of one fixed size at fixed offsets, read back by position:
// a 150 KB read from the page cache or an SSD is far cheaper than decoding and resizing a JPEG again).
// Past the disk budget too, samples are decoded each epoch as before. The file is removed on close, when
// the cache is collected unclosed, and at process exit.
import { closeSync, openSync, read, statfsSync, unlinkSync, write } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const readAt = promisify(read);
const writeAt = promisify(write);

/** Default budget: an eighth of the machine's memory, at most 1 GiB. */
export function defaultDecodedCacheBytes(): number {
  return Math.min(1024 ** 3, Math.floor(os.totalmem() / 8));
}

/** Default disk budget of one cache's spill file: a quarter of the free space where it goes, at most 16 GiB. */
export function defaultSpillBytes(directory: string): number {
  try {
    const s = statfsSync(directory);
    return Math.min(16 * 1024 ** 3, Math.floor((s.bavail * s.bsize) / 4));
  } catch {
    return 0;
  }
}

/**
 * What every cache of the process holds together may not exceed the default budget either: a training,
 * a validation and a recalibration reader at once share it instead of taking it three times.
 */
let processBytes = 0;

/** Spill files not yet removed: removed at process exit if nothing else removed them. */
const liveSpillFiles = new Set<string>();
let exitHookInstalled = false;
function removeAtExit(path: string): void {
  liveSpillFiles.add(path);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const file of liveSpillFiles) {
      try {
        unlinkSync(file);
      } catch {
        // Already gone.
      }
    }
  });
}

interface Account {
  bytes: number;
  /** The spill file and its descriptor once opened (a plain fd, so a finalizer can close it). */
  spillPath: string | null;
  spillFd: number | null;
}

/** Closes and removes a spill file. */
function removeSpill(spill: { spillFd: number | null; spillPath: string | null }): void {
  if (spill.spillFd !== null) {
    try {
      closeSync(spill.spillFd);
    } catch {
      // Already closed.
    }
  }
  if (spill.spillPath !== null) {
    try {
      unlinkSync(spill.spillPath);
    } catch {
      // Already gone.
    }
    liveSpillFiles.delete(spill.spillPath);
  }
}

/** An iterator dropped without close() gives its share back, and its spill file, when it is collected. */
const unclosed = new FinalizationRegistry<Account>((account) => {
  processBytes -= account.bytes;
  removeSpill(account);
});

export interface DecodedCacheOptions {
  /**
   * Bytes the cache may write to its spill file once the memory budget is full. 0 turns spilling off.
   * Default `defaultSpillBytes(spillDirectory)`: a quarter of the free space there, at most 16 GiB.
   */
  spillBytes?: number;
  /** Where the spill file goes. Default: the system's temporary directory. */
  spillDirectory?: string;
}

let spillSequence = 0;

export class DecodedCache {
  private readonly entries = new Map<number, Uint8Array>();
  /** Sample index -> record slot in the spill file. */
  private readonly spilled = new Map<number, number>();
  /** Records being written: served from memory until the write has landed. */
  private readonly writing = new Map<number, Uint8Array>();
  /** Reads and writes in flight on the spill file's descriptor. */
  private readonly pendingIo = new Set<Promise<unknown>>();
  /** This cache's share of the process budget and its spill file (an object the finalizer can hold without holding the cache). */
  private readonly account: Account = { bytes: 0, spillPath: null, spillFd: null };
  private readonly spillDirectory: string;
  private spillBudget: number | undefined;
  private recordBytes = 0;
  private slots = 0;
  /** A write or read failed (disk full, file removed): no more spilling, those samples decode again. */
  private spillBroken = false;
  /** Bumped by clear(): a write that lands after it belongs to a dropped file. */
  private generation = 0;

  constructor(
    readonly budgetBytes: number,
    private readonly processBudgetBytes = Math.max(budgetBytes, defaultDecodedCacheBytes()),
    options: DecodedCacheOptions = {},
  ) {
    this.spillDirectory = options.spillDirectory ?? os.tmpdir();
    this.spillBudget = options.spillBytes;
    unclosed.register(this, this.account, this);
  }

  /** Sample `index`'s pixels if kept in memory (spilled ones: `read`). */
  get(index: number): Uint8Array | undefined {
    return this.entries.get(index) ?? this.writing.get(index);
  }

  /** Whether sample `index` is kept, in memory or on disk. */
  has(index: number): boolean {
    return this.entries.has(index) || this.writing.has(index) || this.spilled.has(index);
  }

  /** Sample `index`'s pixels from memory or the spill file; undefined if not kept (or unreadable). */
  async read(index: number): Promise<Uint8Array | undefined> {
    const inMemory = this.get(index);
    if (inMemory) return inMemory;
    const slot = this.spilled.get(index);
    const fd = this.account.spillFd;
    if (slot === undefined || fd === null) return undefined;
    const out = new Uint8Array(this.recordBytes);
    const reading = readAt(fd, out, 0, this.recordBytes, slot * this.recordBytes);
    this.pendingIo.add(reading);
    try {
      const { bytesRead } = await reading;
      if (bytesRead === this.recordBytes) return out;
    } catch {
      // Fall through: decode again.
    } finally {
      this.pendingIo.delete(reading);
    }
    this.spilled.delete(index);
    return undefined;
  }

  private inMemoryRoom(bytes: number): boolean {
    return this.account.bytes + bytes <= this.budgetBytes && processBytes + bytes <= this.processBudgetBytes;
  }

  private spillRoom(bytes: number): boolean {
    if (this.spillBroken || (this.recordBytes !== 0 && bytes !== this.recordBytes)) return false;
    this.spillBudget ??= defaultSpillBytes(this.spillDirectory);
    return (this.slots + 1) * bytes <= this.spillBudget;
  }

  /** Whether `bytes` more would still be kept (in memory or spilled). */
  hasRoom(bytes: number): boolean {
    return this.inMemoryRoom(bytes) || this.spillRoom(bytes);
  }

  /** Keeps sample `index`'s decoded pixels (taken over, not copied): in memory while the budget allows, else spilled. */
  keep(index: number, pixels: Uint8Array): void {
    if (this.has(index)) return;
    if (this.inMemoryRoom(pixels.length)) {
      this.entries.set(index, pixels);
      this.account.bytes += pixels.length;
      processBytes += pixels.length;
      return;
    }
    if (!this.spillRoom(pixels.length)) return;
    this.recordBytes = pixels.length;
    const slot = this.slots++;
    const generation = this.generation;
    this.writing.set(index, pixels);
    const write = this.writeRecord(slot, pixels)
      .then(() => {
        if (generation === this.generation) this.spilled.set(index, slot);
      })
      .catch(() => {
        if (generation === this.generation) this.spillBroken = true;
      })
      .finally(() => {
        if (generation === this.generation) this.writing.delete(index);
        this.pendingIo.delete(write);
      });
    this.pendingIo.add(write);
  }

  private async writeRecord(slot: number, pixels: Uint8Array): Promise<void> {
    if (this.account.spillFd === null) {
      const path = join(this.spillDirectory, `tlkit-pixels-${process.pid}-${spillSequence++}-${Math.random().toString(36).slice(2, 8)}.u8`);
      this.account.spillFd = openSync(path, 'w+', 0o600);
      this.account.spillPath = path;
      removeAtExit(path);
    }
    const fd = this.account.spillFd;
    let written = 0;
    while (written < pixels.length) {
      const { bytesWritten } = await writeAt(fd, pixels, written, pixels.length - written, slot * pixels.length + written);
      written += bytesWritten;
    }
  }

  get size(): number {
    return this.entries.size + this.writing.size + this.spilled.size;
  }

  /** Bytes held in memory. */
  get sizeBytes(): number {
    return this.account.bytes;
  }

  /** Samples kept on disk (written or being written), and the spill file (null before the first spill or after clear). */
  get spill(): { samples: number; bytes: number; path: string | null } {
    const samples = this.spilled.size + this.writing.size;
    return { samples, bytes: samples * this.recordBytes, path: this.account.spillPath };
  }

  /** Drops every kept image (and gives its share of the process budget back); removes the spill file. */
  clear(): void {
    this.entries.clear();
    processBytes -= this.account.bytes;
    this.account.bytes = 0;
    this.spilled.clear();
    this.writing.clear();
    this.slots = 0;
    this.recordBytes = 0;
    this.generation++;
    // The descriptor is closed only once the reads and writes in flight on it are done (closing it
    // earlier could let a new file take its number and be read or written in its place).
    const spill = { spillFd: this.account.spillFd, spillPath: this.account.spillPath };
    this.account.spillFd = null;
    this.account.spillPath = null;
    if (this.pendingIo.size === 0) removeSpill(spill);
    else void Promise.allSettled([...this.pendingIo]).then(() => removeSpill(spill));
  }

  /** Waits for spill reads and writes in flight, then clears (removing the spill file). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pendingIo]);
    this.clear();
  }
}
