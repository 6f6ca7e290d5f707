// Likely label errors from out-of-fold class probabilities (confident learning, Northcutt et al. 2021),
// sharpened by the image's nearest neighbours in embedding space.
//
// 1. p = out-of-fold probabilities of a classifier (it never saw the image), optionally averaged with
//    the class shares among the image's k nearest training neighbours (also out-of-sample: the image is
//    not its own neighbour). A mislabeled photo sits among photos of its true class, so both views point
//    away from its folder; a hard but correctly labeled photo has mixed neighbours.
// 2. Per-class thresholds t_j = mean p_j over the images labelled j. An image labelled y is "confidently"
//    of class s != y when p_s >= t_s and s is the most probable such class (the confident joint's
//    off-diagonal): the candidates.
// 3. Score = normalized margin p_s - p_y in [0, 1] (largest first). Candidates are kept when the margin
//    is at least `minMargin`; that cut trades the confident joint's recall for precision (docs/audit.md).
import { invalidArgument } from '../../core/errors.js';
import type { Neighbours } from './embeddings.js';

export interface LabelIssueCandidate {
  index: number;
  given: number;
  suggested: number;
  score: number;
}

export interface LabelIssueOptions {
  /** Neighbours of each image among the training images (same rows), to blend with the probabilities. */
  neighbours?: Neighbours;
  /** Weight of the neighbours' vote in the blend (0..1). Default 0.5. */
  neighbourWeight?: number;
  /** Smallest margin p_suggested - p_given kept. Default 0.5. */
  minMargin?: number;
  /**
   * Labels of the neighbours' rows when they are another set (held-out rows' neighbours among the
   * training rows); default: `labels` (the rows are their own reference set).
   */
  referenceLabels?: ArrayLike<number>;
  /** Per-class thresholds to use (the training rows' ones, for held-out rows); default: computed from these rows. */
  thresholds?: Float64Array;
}

/** The blended probabilities findLabelIssues ranks by (the out-of-fold ones when there are no neighbours). */
export function blendedProbabilities(probabilities: Float64Array, labels: ArrayLike<number>, classes: number, options: LabelIssueOptions = {}): Float64Array {
  const w = options.neighbourWeight ?? 0.5;
  if (!(w >= 0 && w <= 1)) throw invalidArgument('neighbourWeight', w, 'a number in [0, 1]');
  if (!options.neighbours || w === 0) return probabilities;
  return blend(probabilities, neighbourVotes(options.neighbours, options.referenceLabels ?? labels, classes, labels.length), w);
}

/** Class shares among each row's neighbours ([n, classes]), with a pseudo-count so an even split is not 0/1. */
export function neighbourVotes(neighbours: Neighbours, labels: ArrayLike<number>, classes: number, rows = labels.length): Float64Array {
  const n = rows;
  const out = new Float64Array(n * classes);
  const { k, index } = neighbours;
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let m = 0; m < k; m++) {
      const j = index[i * k + m];
      if (j < 0) continue;
      out[i * classes + labels[j]] += 1;
      total += 1;
    }
    const prior = 1 / classes;
    for (let c = 0; c < classes; c++) out[i * classes + c] = (out[i * classes + c] + prior) / (total + 1);
  }
  return out;
}

/** (1 - w) a + w b, row-major [n, classes]. */
export function blend(a: Float64Array, b: Float64Array, w: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (1 - w) * a[i] + w * b[i];
  return out;
}

/** Per-class thresholds: mean probability of class j over the rows labelled j (NaN-free: 1 for an empty class). */
export function classThresholds(probabilities: Float64Array, labels: ArrayLike<number>, classes: number): Float64Array {
  const sum = new Float64Array(classes);
  const count = new Float64Array(classes);
  for (let i = 0; i < labels.length; i++) {
    sum[labels[i]] += probabilities[i * classes + labels[i]];
    count[labels[i]] += 1;
  }
  return sum.map((s, j) => (count[j] > 0 ? s / count[j] : 1));
}

/**
 * Label issues of the training rows, most likely first. `probabilities` is row-major [n, classes] of
 * out-of-fold probabilities; labels are the given classes.
 */
export function findLabelIssues(probabilities: Float64Array, labels: ArrayLike<number>, classes: number, options: LabelIssueOptions = {}): LabelIssueCandidate[] {
  const n = labels.length;
  if (probabilities.length !== n * classes) throw invalidArgument('probabilities', `${probabilities.length} values`, `n * classes = ${n * classes}`);
  const minMargin = options.minMargin ?? 0.5;
  const p = blendedProbabilities(probabilities, labels, classes, options);
  const t = options.thresholds ?? classThresholds(p, labels, classes);
  const issues: LabelIssueCandidate[] = [];
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    let suggested = -1;
    let best = -Infinity;
    for (let c = 0; c < classes; c++) {
      const v = p[i * classes + c];
      if (v >= t[c] && v > best) {
        best = v;
        suggested = c;
      }
    }
    if (suggested < 0) {
      // No class reaches its threshold (a class whose own images are confidently recognised sets a high
      // bar): the most probable class stands in, still held to the margin below.
      for (let c = 0; c < classes; c++) if (p[i * classes + c] > best) (best = p[i * classes + c]), (suggested = c);
    }
    if (suggested === y) continue;
    const margin = best - p[i * classes + y];
    if (margin < minMargin) continue;
    issues.push({ index: i, given: y, suggested, score: margin });
  }
  return issues.sort((a, b) => b.score - a.score || a.index - b.index);
}
