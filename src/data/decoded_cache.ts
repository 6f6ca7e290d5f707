// Decoded pixels kept between epochs. Without augmentation a file gives the same pixels every epoch, so
// reading and decoding it again (most of an epoch's data work at small sizes) is wasted; tf.data users
// write `.cache()` for this. The pixels are kept as uint8 (what the decoder produced, a quarter of the
// float size) up to a byte budget; samples past the budget are decoded each epoch as before.
import os from 'node:os';

/** Default budget: an eighth of the machine's memory, at most 1 GiB. */
export function defaultDecodedCacheBytes(): number {
  return Math.min(1024 ** 3, Math.floor(os.totalmem() / 8));
}

export class DecodedCache {
  private readonly entries = new Map<number, Uint8Array>();
  private bytes = 0;

  constructor(readonly budgetBytes: number) {}

  /** Writes sample `index`'s pixels into `out` as float32; false when it is not cached. */
  readInto(index: number, out: Float32Array): boolean {
    const pixels = this.entries.get(index);
    if (!pixels || pixels.length !== out.length) return false;
    out.set(pixels);
    return true;
  }

  /**
   * Keeps sample `index`'s pixels (float32 values that are whole numbers 0-255, as decoded) while the
   * budget allows.
   */
  keep(index: number, pixels: Float32Array): void {
    if (this.entries.has(index) || this.bytes + pixels.length > this.budgetBytes) return;
    const copy = new Uint8Array(pixels.length);
    copy.set(pixels);
    this.entries.set(index, copy);
    this.bytes += copy.length;
  }

  get size(): number {
    return this.entries.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
