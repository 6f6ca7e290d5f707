// From a model's output row to the classes a person reads: probabilities per class and the top k.
// Pure (no tfjs): `predict`, the HTTP service and the exported web page all rank the same way.

export interface ClassProbability {
  className: string;
  index: number;
  probability: number;
}

/** One image's class probabilities: a single sigmoid unit p becomes [1 - p, p]. */
export function classProbabilities(row: ArrayLike<number>): number[] {
  return row.length === 1 ? [1 - row[0], row[0]] : Array.from(row);
}

/** The k most probable classes of one probability row, most probable first (ties: lower index first). */
export function topOf(row: number[], classNames: string[] | undefined, k: number): ClassProbability[] {
  return row
    .map((probability, index) => ({ className: classNames?.[index] ?? String(index), index, probability }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, k);
}
