// Images far from every class: the mean cosine distance to their k nearest training images (in the
// audit's embedding space), standardised robustly against the training images' own distances
// (median and MAD, so a few outliers do not hide themselves by inflating the spread). kNN distance
// rather than distance to a class centroid: a class with two looks (front and back of a shoe) has a
// centroid between them that no image is near.
import type { Neighbours } from './embeddings.js';

export interface OutlierCandidate {
  /** Row index in the query set. */
  index: number;
  score: number;
  /** The class most of its neighbours have. */
  nearest: number;
}

export interface OutlierOptions {
  /** Robust z-score above which an image is an outlier. Default 4. */
  minScore?: number;
}

/** Mean cosine distance to the neighbours, per row. */
export function neighbourDistances(neighbours: Neighbours, rows: number): Float64Array {
  const out = new Float64Array(rows);
  const { k, similarity } = neighbours;
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let m = 0; m < k; m++) s += 1 - similarity[i * k + m];
    out[i] = k > 0 ? s / k : 0;
  }
  return out;
}

function median(values: Float64Array): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return 0;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The robust scale of the reference distances: median and 1.4826 * MAD (a normal's standard deviation). */
export function robustScale(distances: Float64Array): { median: number; scale: number } {
  const m = median(distances);
  const mad = median(distances.map((d) => Math.abs(d - m)));
  return { median: m, scale: Math.max(1.4826 * mad, 1e-9) };
}

function majority(neighbours: Neighbours, i: number, labels: ArrayLike<number>): number {
  const votes = new Map<number, number>();
  for (let m = 0; m < neighbours.k; m++) {
    const j = neighbours.index[i * neighbours.k + m];
    if (j >= 0) votes.set(labels[j], (votes.get(labels[j]) ?? 0) + 1);
  }
  let best = -1;
  let count = -1;
  for (const [label, c] of votes) if (c > count || (c === count && label < best)) (best = label), (count = c);
  return best;
}

/**
 * Outliers among rows whose neighbours (among the training rows, labelled `referenceLabels`) are given,
 * scored against `scale` (robustScale of the training rows' distances), farthest first.
 */
export function findOutliers(neighbours: Neighbours, rows: number, referenceLabels: ArrayLike<number>, scale: { median: number; scale: number }, options: OutlierOptions = {}): OutlierCandidate[] {
  const minScore = options.minScore ?? 4;
  const distances = neighbourDistances(neighbours, rows);
  const out: OutlierCandidate[] = [];
  for (let i = 0; i < rows; i++) {
    const score = (distances[i] - scale.median) / scale.scale;
    if (score >= minScore) out.push({ index: i, score, nearest: majority(neighbours, i, referenceLabels) });
  }
  return out.sort((a, b) => b.score - a.score || a.index - b.index);
}
