// Out-of-fold class probabilities of the training images: each image's probabilities come from a
// logistic regression that never saw it (stratified folds), the input confident learning needs. The
// linear probe fits on folds of the same features; when it keeps its out-of-fold probabilities this
// file becomes a pass-through.
//
// The regression runs on a seeded random projection of the standardised features (256 dimensions by
// default): the probe's full-width fits cost seconds each, and the ranking of suspicious labels moved
// little with the width on the planted sets (docs/audit.md).
import { invalidArgument } from '../../core/errors.js';
import { fitLogisticRegression, standardize, standardizer, stratifiedFolds, type DenseRows } from '../probes/linear_probe.js';
import { randomProjection } from './embeddings.js';

export interface OutOfFoldOptions {
  /** Folds (default 5: each fit sees 80% of the images). */
  folds?: number;
  /** Inverse regularisation on the projected standardised features. Default 0.05. */
  c?: number;
  /** Dimensions the features are projected to before the fits (default 256; 0 = none). */
  dims?: number;
  seed?: number;
  maxIterations?: number;
}

/** Class probabilities [n, classes] of a fitted model (two classes: a sigmoid, else a softmax). */
function probabilities(weights: Float64Array, bias: Float64Array, classes: number, data: DenseRows, rows: number[], out: Float64Array): void {
  const { x, d } = data;
  const k = classes === 2 ? 1 : classes;
  const z = new Float64Array(k);
  for (const i of rows) {
    for (let o = 0; o < k; o++) {
      let s = bias[o];
      for (let j = 0; j < d; j++) s += x[i * d + j] * weights[o * d + j];
      z[o] = s;
    }
    if (k === 1) {
      const p = 1 / (1 + Math.exp(-z[0]));
      out[i * 2] = 1 - p;
      out[i * 2 + 1] = p;
      continue;
    }
    let max = -Infinity;
    for (let o = 0; o < k; o++) max = Math.max(max, z[o]);
    let sum = 0;
    for (let o = 0; o < k; o++) sum += Math.exp(z[o] - max);
    for (let o = 0; o < k; o++) out[i * k + o] = Math.exp(z[o] - max) / sum;
  }
}

function take(data: DenseRows, rows: number[]): DenseRows {
  const x = new Float64Array(rows.length * data.d);
  rows.forEach((r, i) => x.set(data.x.subarray(r * data.d, (r + 1) * data.d), i * data.d));
  return { x, n: rows.length, d: data.d };
}

export interface OutOfFold {
  /** Row-major [n, classes]: each training row's probabilities from the fold model that did not see it. */
  train: Float64Array;
  /** Row-major [m, classes]: the held-out rows' probabilities, averaged over the fold models. */
  heldOut?: Float64Array;
}

/** Out-of-fold probabilities of the training rows (and fold-averaged ones of `heldOut` rows). */
export function outOfFoldProbabilities(data: DenseRows, labels: ArrayLike<number>, classes: number, options: OutOfFoldOptions = {}, heldOut?: DenseRows): OutOfFold {
  const folds = options.folds ?? 5;
  if (!Number.isInteger(folds) || folds < 2) throw invalidArgument('folds', folds, 'an integer >= 2');
  if (labels.length !== data.n) throw invalidArgument('labels', `${labels.length} labels`, `one per row (${data.n})`);
  const dims = options.dims ?? 256;
  const scaling = standardizer(data);
  const project = (rows: DenseRows): DenseRows => (dims > 0 ? randomProjection(standardize(rows, scaling), dims, options.seed ?? 1234) : standardize(rows, scaling));
  const x = project(data);
  const h = heldOut && heldOut.n > 0 ? project(heldOut) : undefined;
  const heldOutSum = h ? new Float64Array(h.n * classes) : undefined;
  const heldOutRows = h ? Array.from({ length: h.n }, (_, i) => i) : [];
  const scratch = h ? new Float64Array(h.n * classes) : undefined;
  let fitted = 0;
  const fold = stratifiedFolds(labels, folds);
  const out = new Float64Array(data.n * classes);
  for (let f = 0; f < folds; f++) {
    const fitRows: number[] = [];
    const checkRows: number[] = [];
    for (let i = 0; i < data.n; i++) (fold[i] === f ? checkRows : fitRows).push(i);
    if (checkRows.length === 0) continue;
    const present = new Set(fitRows.map((i) => labels[i]));
    if (present.size < 2) {
      // A fold whose training part has one class cannot be fitted: its rows get uniform probabilities.
      for (const i of checkRows) for (let o = 0; o < classes; o++) out[i * classes + o] = 1 / classes;
      continue;
    }
    const model = fitLogisticRegression(take(x, fitRows), fitRows.map((i) => labels[i]), classes, {
      c: options.c ?? 0.05,
      tolerance: 1e-4,
      maxIterations: options.maxIterations ?? 100,
    });
    probabilities(model.weights, model.bias, classes, x, checkRows, out);
    if (h && heldOutSum && scratch) {
      probabilities(model.weights, model.bias, classes, h, heldOutRows, scratch);
      for (let i = 0; i < scratch.length; i++) heldOutSum[i] += scratch[i];
      fitted++;
    }
  }
  if (heldOutSum) for (let i = 0; i < heldOutSum.length; i++) heldOutSum[i] = fitted > 0 ? heldOutSum[i] / fitted : 1 / classes;
  return { train: out, ...(heldOutSum ? { heldOut: heldOutSum } : {}) };
}
