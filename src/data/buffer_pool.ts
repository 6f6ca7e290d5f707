// Reuses image-sized Float32Arrays. A 224x224x3 image is 600 kB; allocating two per image and a batch
// buffer per batch made garbage collection a fifth of the data pipeline's CPU time.
export class Float32Pool {
  private readonly free = new Map<number, Float32Array[]>();

  /** At most `limit` arrays are kept per size; beyond that they are left to the collector. */
  constructor(readonly limit = 16) {}

  /** An array of `length` values with arbitrary content (callers overwrite every element). */
  take(length: number): Float32Array {
    return this.free.get(length)?.pop() ?? new Float32Array(length);
  }

  give(array: Float32Array): void {
    let list = this.free.get(array.length);
    if (!list) this.free.set(array.length, (list = []));
    if (list.length < this.limit) list.push(array);
  }
}
