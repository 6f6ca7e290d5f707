// The K items of largest score seen in a stream, in O(K) memory and O(log K) per item: evaluation keeps
// its worst-loss misclassified images this way, whatever the number of images.
export class WorstK<T> {
  /** A min-heap on score: the root is the best of the kept, the first to go. */
  private readonly heap: { score: number; order: number; item: T }[] = [];
  private seen = 0;

  constructor(readonly limit: number) {}

  /** Offers an item; kept if it is among the `limit` largest scores so far (ties: the earlier one stays). */
  offer(score: number, item: T): void {
    const order = this.seen++;
    if (this.limit <= 0) return;
    const entry = { score, order, item };
    if (this.heap.length < this.limit) {
      this.heap.push(entry);
      this.up(this.heap.length - 1);
    } else if (this.less(this.heap[0], entry)) {
      this.heap[0] = entry;
      this.down(0);
    }
  }

  /** Items offered in all (kept or not). */
  get offered(): number {
    return this.seen;
  }

  /** The kept items, largest score first (ties in the order offered). */
  sorted(): T[] {
    return [...this.heap].sort((a, b) => b.score - a.score || a.order - b.order).map((e) => e.item);
  }

  /** a ranks below b: a smaller score, or the same score offered later. */
  private less(a: { score: number; order: number }, b: { score: number; order: number }): boolean {
    return a.score < b.score || (a.score === b.score && a.order > b.order);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
