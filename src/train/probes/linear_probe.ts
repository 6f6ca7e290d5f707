// The linear probe: an L2-regularised logistic regression on frozen (pooled) backbone features, the
// baseline that tells how much fine-tuning added. The problem is small and dense (hundreds to thousands
// of rows, a few thousand features), so it is solved here in Float64Arrays by L-BFGS, in seconds.
//
// Objective (scikit-learn's convention, so C means what it means there):
//   sum_i crossEntropy_i + ||W||^2 / (2 C)       (the bias is not penalised)
// Two classes: one weight vector and a sigmoid; more: one weight vector per class and a softmax.
import { invalidArgument } from '../../core/errors.js';

export interface LogisticRegressionOptions {
  /** Inverse regularisation strength (larger: weaker penalty). */
  c: number;
  /** L-BFGS stops when the largest gradient entry is below tolerance * max(1, |f|). Default 1e-6. */
  tolerance?: number;
  maxIterations?: number;
  /** Starting point (same layout as the result), e.g. the solution for a neighbouring C. */
  init?: { weights: Float64Array; bias: Float64Array };
}

export interface LogisticModel {
  classes: number;
  features: number;
  /** Row-major [outputs, features]: outputs = 1 for two classes (class 1's logit), else `classes`. */
  weights: Float64Array;
  bias: Float64Array;
  iterations: number;
  converged: boolean;
}

/** Rows of a dense matrix: x is row-major [n, d]. */
export interface DenseRows {
  x: Float64Array;
  n: number;
  d: number;
}

function outputsFor(classes: number): number {
  return classes === 2 ? 1 : classes;
}

/**
 * Loss and gradient of the objective at params = [W (k x d) | b (k)]. Writes the gradient into `grad`.
 * `logits` is scratch of n * k.
 */
function objective(data: DenseRows, y: Int32Array, classes: number, c: number, params: Float64Array, grad: Float64Array, logits: Float64Array): number {
  const { x, n, d } = data;
  const k = outputsFor(classes);
  const biasAt = k * d;
  grad.fill(0);
  let loss = 0;
  const residual = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let o = 0; o < k; o++) {
      let z = params[biasAt + o];
      const w = o * d;
      for (let j = 0; j < d; j++) z += x[row + j] * params[w + j];
      logits[i * k + o] = z;
    }
    if (k === 1) {
      const z = logits[i];
      const t = y[i];
      // log(1 + e^z) - t z, computed without overflow.
      loss += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - t * z;
      residual[0] = 1 / (1 + Math.exp(-z)) - t;
    } else {
      let max = -Infinity;
      for (let o = 0; o < k; o++) max = Math.max(max, logits[i * k + o]);
      let sum = 0;
      for (let o = 0; o < k; o++) sum += Math.exp(logits[i * k + o] - max);
      const logSum = max + Math.log(sum);
      loss += logSum - logits[i * k + y[i]];
      for (let o = 0; o < k; o++) residual[o] = Math.exp(logits[i * k + o] - logSum) - (o === y[i] ? 1 : 0);
    }
    for (let o = 0; o < k; o++) {
      const r = residual[o];
      if (r === 0) continue;
      const w = o * d;
      for (let j = 0; j < d; j++) grad[w + j] += r * x[row + j];
      grad[biasAt + o] += r;
    }
  }
  const penalty = 1 / c;
  let squared = 0;
  for (let j = 0; j < biasAt; j++) {
    squared += params[j] * params[j];
    grad[j] += penalty * params[j];
  }
  return loss + (0.5 * penalty * squared);
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Fits the regularised logistic regression by L-BFGS (memory 10, backtracking Armijo line search). */
export function fitLogisticRegression(data: DenseRows, y: ArrayLike<number>, classes: number, options: LogisticRegressionOptions): LogisticModel {
  const { n, d } = data;
  if (!(options.c > 0)) throw invalidArgument('c', options.c, 'a number > 0');
  if (!Number.isInteger(classes) || classes < 2) throw invalidArgument('classes', classes, 'an integer >= 2');
  if (data.x.length !== n * d) throw invalidArgument('x', `${data.x.length} values`, `n * d = ${n * d} values`);
  if (y.length !== n) throw invalidArgument('y', `${y.length} labels`, `one label per row (${n})`);
  const labels = Int32Array.from(y);
  for (const t of labels) if (t < 0 || t >= classes) throw invalidArgument('y', t, `class indices in [0, ${classes})`);
  const k = outputsFor(classes);
  const size = k * d + k;
  const tolerance = options.tolerance ?? 1e-6;
  const maxIterations = options.maxIterations ?? 500;
  const memory = 10;

  const params = new Float64Array(size);
  if (options.init) {
    params.set(options.init.weights, 0);
    params.set(options.init.bias, k * d);
  }
  const grad = new Float64Array(size);
  const logits = new Float64Array(n * k);
  let f = objective(data, labels, classes, options.c, params, grad, logits);
  const sHistory: Float64Array[] = [];
  const yHistory: Float64Array[] = [];
  const rhoHistory: number[] = [];
  const direction = new Float64Array(size);
  const trial = new Float64Array(size);
  const trialGrad = new Float64Array(size);
  const alpha = new Float64Array(memory);
  let iterations = 0;
  let converged = maxAbs(grad) <= tolerance * Math.max(1, Math.abs(f));
  while (!converged && iterations < maxIterations) {
    // Two-loop recursion: direction = -H grad.
    direction.set(grad);
    for (let m = sHistory.length - 1; m >= 0; m--) {
      alpha[m] = rhoHistory[m] * dot(sHistory[m], direction);
      const ym = yHistory[m];
      for (let j = 0; j < size; j++) direction[j] -= alpha[m] * ym[j];
    }
    const last = sHistory.length - 1;
    const gamma = last >= 0 ? dot(sHistory[last], yHistory[last]) / dot(yHistory[last], yHistory[last]) : 1 / Math.max(1, maxAbs(grad));
    for (let j = 0; j < size; j++) direction[j] *= gamma;
    for (let m = 0; m < sHistory.length; m++) {
      const beta = rhoHistory[m] * dot(yHistory[m], direction);
      const sm = sHistory[m];
      for (let j = 0; j < size; j++) direction[j] += sm[j] * (alpha[m] - beta);
    }
    for (let j = 0; j < size; j++) direction[j] = -direction[j];
    let slope = dot(grad, direction);
    if (!(slope < 0)) {
      // Not a descent direction (curvature information went stale): restart from steepest descent.
      sHistory.length = yHistory.length = rhoHistory.length = 0;
      for (let j = 0; j < size; j++) direction[j] = -grad[j] / Math.max(1, maxAbs(grad));
      slope = dot(grad, direction);
    }
    let step = 1;
    let fTrial = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let j = 0; j < size; j++) trial[j] = params[j] + step * direction[j];
      fTrial = objective(data, labels, classes, options.c, trial, trialGrad, logits);
      if (fTrial <= f + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(fTrial < f)) {
      // No decrease along the direction at any step: at the precision floor.
      converged = maxAbs(grad) <= Math.sqrt(tolerance) * Math.max(1, Math.abs(f));
      break;
    }
    const s = new Float64Array(size);
    const yDiff = new Float64Array(size);
    for (let j = 0; j < size; j++) {
      s[j] = trial[j] - params[j];
      yDiff[j] = trialGrad[j] - grad[j];
    }
    const sy = dot(s, yDiff);
    if (sy > 1e-12) {
      if (sHistory.length === memory) {
        sHistory.shift();
        yHistory.shift();
        rhoHistory.shift();
      }
      sHistory.push(s);
      yHistory.push(yDiff);
      rhoHistory.push(1 / sy);
    }
    params.set(trial);
    grad.set(trialGrad);
    f = fTrial;
    iterations++;
    converged = maxAbs(grad) <= tolerance * Math.max(1, Math.abs(f));
  }
  return { classes, features: d, weights: params.slice(0, k * d), bias: params.slice(k * d), iterations, converged };
}

/** Predicted class of each row. */
export function predictClasses(model: LogisticModel, data: DenseRows): Int32Array {
  const { x, n, d } = data;
  if (d !== model.features) throw invalidArgument('d', d, `${model.features} features, as the model was fitted`);
  const k = outputsFor(model.classes);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestLogit = -Infinity;
    for (let o = 0; o < k; o++) {
      let z = model.bias[o];
      for (let j = 0; j < d; j++) z += x[i * d + j] * model.weights[o * d + j];
      if (k === 1) {
        best = z > 0 ? 1 : 0;
        break;
      }
      if (z > bestLogit) {
        bestLogit = z;
        best = o;
      }
    }
    out[i] = best;
  }
  return out;
}

function accuracyOf(predicted: Int32Array, y: ArrayLike<number>): number {
  let right = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === y[i]) right++;
  return predicted.length === 0 ? Number.NaN : right / predicted.length;
}

/** Per-feature mean and 1/std of the training rows (std 0 -> scale 1), so one C grid suits every backbone. */
export function standardizer(data: DenseRows): { mean: Float64Array; scale: Float64Array } {
  const { x, n, d } = data;
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const v = x[i * d + j] - mean[j];
      scale[j] += v * v;
    }
  }
  for (let j = 0; j < d; j++) {
    const std = Math.sqrt(scale[j] / n);
    scale[j] = std > 1e-12 ? 1 / std : 1;
  }
  return { mean, scale };
}

export function standardize(data: DenseRows, s: { mean: Float64Array; scale: Float64Array }): DenseRows {
  const { x, n, d } = data;
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j] = (x[i * d + j] - s.mean[j]) * s.scale[j];
  return { x: out, n, d };
}

/** Fold of each row: its rank within its class, modulo `folds` (stratified, deterministic, no RNG). */
export function stratifiedFolds(y: ArrayLike<number>, folds: number): Int32Array {
  const seen = new Map<number, number>();
  const out = new Int32Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const rank = seen.get(y[i]) ?? 0;
    seen.set(y[i], rank + 1);
    out[i] = rank % folds;
  }
  return out;
}

function selectRows(data: DenseRows, y: ArrayLike<number>, keep: (i: number) => boolean): { data: DenseRows; y: Int32Array } {
  const rows: number[] = [];
  for (let i = 0; i < data.n; i++) if (keep(i)) rows.push(i);
  const x = new Float64Array(rows.length * data.d);
  rows.forEach((r, i) => x.set(data.x.subarray(r * data.d, (r + 1) * data.d), i * data.d));
  return { data: { x, n: rows.length, d: data.d }, y: Int32Array.from(rows, (r) => y[r]) };
}

export interface LinearProbeOptions {
  /** Candidate C values (on standardised features), tried weakest regularisation last. Default 1e-3 ... 1. */
  cGrid?: number[];
  /** Cross-validation folds on the training rows that choose C. Default 3. */
  folds?: number;
  tolerance?: number;
  maxIterations?: number;
}

export interface LinearProbeResult {
  /** Accuracy on the held-out rows. */
  accuracy: number;
  trainAccuracy: number;
  /** The C chosen by cross-validation on the training rows, and the mean fold accuracy of each C tried. */
  c: number;
  cvAccuracy: { c: number; accuracy: number }[];
  features: number;
  seconds: number;
}

export const DEFAULT_C_GRID = [1e-3, 1e-2, 1e-1, 1] as const;

/**
 * Standardises the features on the training rows, picks C by stratified k-fold cross-validation on the
 * training rows (ties: the stronger penalty), refits on all training rows and scores the held-out rows.
 */
export function linearProbe(
  train: DenseRows,
  trainLabels: ArrayLike<number>,
  heldOut: DenseRows,
  heldOutLabels: ArrayLike<number>,
  classes: number,
  options: LinearProbeOptions = {},
): LinearProbeResult {
  const started = performance.now();
  const grid = [...(options.cGrid ?? DEFAULT_C_GRID)].sort((a, b) => a - b);
  if (grid.length === 0 || grid.some((c) => !(c > 0))) throw invalidArgument('cGrid', options.cGrid, 'a non-empty list of numbers > 0');
  const folds = options.folds ?? 3;
  if (!Number.isInteger(folds) || folds < 2) throw invalidArgument('folds', folds, 'an integer >= 2');
  if (heldOut.d !== train.d) throw invalidArgument('heldOut', `${heldOut.d} features`, `${train.d} features, as the training rows`);
  const solver = { tolerance: options.tolerance ?? 1e-4, maxIterations: options.maxIterations ?? 200 };
  const s = standardizer(train);
  const x = standardize(train, s);
  const fold = stratifiedFolds(trainLabels, folds);
  const correct = new Float64Array(grid.length);
  for (let f = 0; f < folds; f++) {
    const fit = selectRows(x, trainLabels, (i) => fold[i] !== f);
    const check = selectRows(x, trainLabels, (i) => fold[i] === f);
    if (check.data.n === 0) continue;
    // Warm start along the path: each C starts from the previous (stronger-penalty) solution.
    let init: LogisticModel | undefined;
    grid.forEach((c, g) => {
      init = fitLogisticRegression(fit.data, fit.y, classes, { c, ...solver, init });
      correct[g] += accuracyOf(predictClasses(init, check.data), check.y) * check.data.n;
    });
  }
  const cvAccuracy = grid.map((c, g) => ({ c, accuracy: correct[g] / train.n }));
  const best = cvAccuracy.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const model = fitLogisticRegression(x, trainLabels, classes, { c: best.c, ...solver });
  return {
    accuracy: accuracyOf(predictClasses(model, standardize(heldOut, s)), heldOutLabels),
    trainAccuracy: accuracyOf(predictClasses(model, x), trainLabels),
    c: best.c,
    cvAccuracy,
    features: train.d,
    seconds: (performance.now() - started) / 1000,
  };
}
