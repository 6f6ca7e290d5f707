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

/**
 * What every cache of the process holds together may not exceed the default budget either: a training,
 * a validation and a recalibration reader at once share it instead of taking it three times.
 */
let processBytes = 0;
/** An iterator dropped without close() gives its share back when it is collected. */
const unclosed = new FinalizationRegistry<{ bytes: number }>((account) => {
  processBytes -= account.bytes;
});

export class DecodedCache {
  private readonly entries = new Map<number, Uint8Array>();
  /** This cache's share of the process budget (an object the finalizer can hold without holding the cache). */
  private readonly account = { bytes: 0 };

  constructor(
    readonly budgetBytes: number,
    private readonly processBudgetBytes = Math.max(budgetBytes, defaultDecodedCacheBytes()),
  ) {
    unclosed.register(this, this.account, this);
  }

  /** Sample `index`'s pixels, if kept. */
  get(index: number): Uint8Array | undefined {
    return this.entries.get(index);
  }

  /** Whether `bytes` more would still fit. */
  hasRoom(bytes: number): boolean {
    return this.account.bytes + bytes <= this.budgetBytes && processBytes + bytes <= this.processBudgetBytes;
  }

  /** Keeps sample `index`'s decoded pixels (taken over, not copied) while the budget allows. */
  keep(index: number, pixels: Uint8Array): void {
    if (this.entries.has(index) || !this.hasRoom(pixels.length)) return;
    this.entries.set(index, pixels);
    this.account.bytes += pixels.length;
    processBytes += pixels.length;
  }

  get size(): number {
    return this.entries.size;
  }

  get sizeBytes(): number {
    return this.account.bytes;
  }

  /** Drops every kept image (and gives its share of the process budget back). */
  clear(): void {
    this.entries.clear();
    processBytes -= this.account.bytes;
    this.account.bytes = 0;
  }
}
