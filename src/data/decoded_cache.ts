// Decoded pixels kept between epochs. A file decodes to the same pixels every epoch (augmentation draws
// its random transform afterwards, from those pixels), so reading and decoding it again, most of an
// epoch's data work, is wasted; tf.data users write `.cache()` for this. The pixels are kept as uint8 at
// the target size (what the decoder produced, a quarter of the float size) up to a byte budget; samples
// past the budget are decoded each epoch as before.
import os from 'node:os';

/** Default budget: an eighth of the machine's memory, at most 1 GiB. */
export function defaultDecodedCacheBytes(): number {
  return Math.min(1024 ** 3, Math.floor(os.totalmem() / 8));
}

export class DecodedCache {
  private readonly entries = new Map<number, Uint8Array>();
  private bytes = 0;

  constructor(readonly budgetBytes: number) {}

  /** Sample `index`'s pixels, if kept. */
  get(index: number): Uint8Array | undefined {
    return this.entries.get(index);
  }

  /** Whether `bytes` more would still fit. */
  hasRoom(bytes: number): boolean {
    return this.bytes + bytes <= this.budgetBytes;
  }

  /** Keeps sample `index`'s decoded pixels (taken over, not copied) while the budget allows. */
  keep(index: number, pixels: Uint8Array): void {
    if (this.entries.has(index) || !this.hasRoom(pixels.length)) return;
    this.entries.set(index, pixels);
    this.bytes += pixels.length;
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
