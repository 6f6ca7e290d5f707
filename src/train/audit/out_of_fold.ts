// Out-of-fold class probabilities of the training images: each image's probabilities come from a
// classifier that never saw it (stratified folds), the input confident learning needs.
//
// The classifier is a ridge (least-squares) one on one-hot targets with a softmax whose temperature is
// fitted on the out-of-fold scores, on a seeded random projection of the standardised features (256
// dimensions): closed form, so five folds cost one pass over the rows and five small solves. Logistic
// regression by L-BFGS on the same rows (what the linear probe fits) ranked the planted label errors no
// better and took 15x longer (docs/audit.md); when the probe keeps its out-of-fold probabilities the
// audit uses those instead (auditView).
import { invalidArgument } from '../../core/errors.js';
import { stratifiedFolds, type DenseRows } from '../probes/linear_probe.js';

export interface OutOfFold {
  /** Row-major [n, classes]: each training row's probabilities from the fold model that did not see it. */
  train: Float64Array;
  /** Row-major [m, classes]: the held-out rows' probabilities, averaged over the fold models. */
  heldOut?: Float64Array;
}

/** Solves (A) x = b in place for a symmetric positive definite A [d, d] (Cholesky), for several right-hand sides B [d, m]. */
function choleskySolve(a: Float64Array, d: number, b: Float64Array, m: number): void {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j];
      for (let k = 0; k < j; k++) s -= l[i * d + k] * l[j * d + k];
      l[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / l[j * d + j];
    }
  }
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < d; i++) {
      let s = b[i * m + c];
      for (let k = 0; k < i; k++) s -= l[i * d + k] * b[k * m + c];
      b[i * m + c] = s / l[i * d + i];
    }
    for (let i = d - 1; i >= 0; i--) {
      let s = b[i * m + c];
      for (let k = i + 1; k < d; k++) s -= l[k * d + i] * b[k * m + c];
      b[i * m + c] = s / l[i * d + i];
    }
  }
}

export interface RidgeOutOfFoldOptions {
  /** Default 5 (each fit sees 80% of the images). */
  folds?: number;
  /** Ridge penalty relative to the mean diagonal of X^T X. Default 0.1. */
  lambda?: number;
}

/**
 * Out-of-fold probabilities of the rows `x` (standardised, projected: see auditView) from ridge
 * classifiers, and the fold-averaged probabilities of `heldOut` rows.
 */
export function ridgeOutOfFold(x: DenseRows, labels: ArrayLike<number>, classes: number, options: RidgeOutOfFoldOptions = {}, heldOut?: DenseRows): OutOfFold {
  const folds = options.folds ?? 5;
  if (!Number.isInteger(folds) || folds < 2) throw invalidArgument('folds', folds, 'an integer >= 2');
  if (labels.length !== x.n) throw invalidArgument('labels', `${labels.length} labels`, `one per row (${x.n})`);
  const h = heldOut && heldOut.n > 0 ? heldOut : undefined;
  const d = x.d + 1; // + bias column
  const n = x.n;
  const fold = stratifiedFolds(labels, folds);
  // Per-fold Gram matrices and X^T Y; the fit of fold f uses the totals minus fold f's part.
  const gram = Array.from({ length: folds }, () => new Float64Array(d * d));
  const xty = Array.from({ length: folds }, () => new Float64Array(d * classes));
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    row.set(x.x.subarray(i * x.d, (i + 1) * x.d));
    row[d - 1] = 1;
    const g = gram[fold[i]];
    const t = xty[fold[i]];
    for (let a = 0; a < d; a++) {
      const va = row[a];
      for (let b = 0; b <= a; b++) g[a * d + b] += va * row[b];
      t[a * classes + labels[i]] += va;
    }
  }
  const totalGram = new Float64Array(d * d);
  const totalXty = new Float64Array(d * classes);
  for (let f = 0; f < folds; f++) {
    for (let j = 0; j < totalGram.length; j++) totalGram[j] += gram[f][j];
    for (let j = 0; j < totalXty.length; j++) totalXty[j] += xty[f][j];
  }
  let trace = 0;
  for (let a = 0; a < d - 1; a++) trace += totalGram[a * d + a];
  const penalty = (options.lambda ?? 0.1) * (trace / (d - 1));
  const scores = new Float64Array(n * classes);
  const heldOutScores = h ? new Float64Array(h.n * classes) : undefined;
  for (let f = 0; f < folds; f++) {
    const a = new Float64Array(d * d);
    for (let p = 0; p < d; p++) {
      for (let q = 0; q <= p; q++) {
        const v = totalGram[p * d + q] - gram[f][p * d + q];
        a[p * d + q] = v;
        a[q * d + p] = v;
      }
      if (p < d - 1) a[p * d + p] += penalty;
    }
    const w = new Float64Array(d * classes);
    for (let j = 0; j < w.length; j++) w[j] = totalXty[j] - xty[f][j];
    choleskySolve(a, d, w, classes);
    const apply = (src: DenseRows, i: number, out: Float64Array, weight: number): void => {
      for (let c = 0; c < classes; c++) {
        let s = w[(d - 1) * classes + c];
        for (let j = 0; j < src.d; j++) s += src.x[i * src.d + j] * w[j * classes + c];
        out[i * classes + c] += s * weight;
      }
    };
    for (let i = 0; i < n; i++) if (fold[i] === f) apply(x, i, scores, 1);
    if (h && heldOutScores) for (let i = 0; i < h.n; i++) apply(h, i, heldOutScores, 1 / folds);
  }
  const temperature = fitTemperature(scores, labels, classes);
  return { train: softmaxRows(scores, classes, temperature), ...(heldOutScores ? { heldOut: softmaxRows(heldOutScores, classes, temperature) } : {}) };
}

function softmaxRows(scores: Float64Array, classes: number, t: number): Float64Array {
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length / classes; i++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, scores[i * classes + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[i * classes + c] = Math.exp(t * (scores[i * classes + c] - max));
    for (let c = 0; c < classes; c++) out[i * classes + c] /= sum;
  }
  return out;
}

/** The softmax temperature minimising the out-of-fold log-loss (golden-section search on log t). */
function fitTemperature(scores: Float64Array, labels: ArrayLike<number>, classes: number): number {
  const loss = (logT: number): number => {
    const t = Math.exp(logT);
    let total = 0;
    for (let i = 0; i < labels.length; i++) {
      let max = -Infinity;
      for (let c = 0; c < classes; c++) max = Math.max(max, t * scores[i * classes + c]);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(t * scores[i * classes + c] - max);
      total += max + Math.log(sum) - t * scores[i * classes + labels[i]];
    }
    return total;
  };
  let lo = Math.log(0.1);
  let hi = Math.log(100);
  const g = (Math.sqrt(5) - 1) / 2;
  for (let it = 0; it < 40; it++) {
    const a = hi - g * (hi - lo);
    const b = lo + g * (hi - lo);
    if (loss(a) < loss(b)) hi = b;
    else lo = a;
  }
  return Math.exp((lo + hi) / 2);
}
