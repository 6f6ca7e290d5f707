// The linear probe: an L2-regularised logistic regression on frozen (pooled) backbone features, the
// baseline that tells how much fine-tuning added.
//
// Objective (scikit-learn's convention, so C means what it means there):
//   sum_i crossEntropy_i + ||W||^2 / (2 C)       (the bias is not penalised)
// Two classes: one weight vector and a sigmoid; more: one weight vector per class and a softmax.
//
// Cost. Every solver step is two products over the rows (logits X W, gradient X^T R), so a probe costs
// (objective evaluations) x 4 n d k flops. What keeps that a small part of a run at any n:
// - C is chosen by cross-validation on a stratified subsample of at most `cvRows` rows (the C grid walked
//   as a warm-started path), and only the final model sees every row, starting from the folds' solutions;
// - L-BFGS also stops when the loss has stopped moving (relative decrease over a few iterations);
// - `runLinearProbe` runs the two products on onnxruntime (MLAS) in row blocks over float32 features,
//   standardisation folded into the weights, so memory stays at the caller's features plus one block.
// The synchronous `linearProbe` runs the same steps in Float64 TypeScript loops: exact, and the
// reference the tests hold against scipy, but ~10-50x slower on large problems.
//
// One algorithm serves both: the steps are a generator that yields each matrix pass it needs
// (ProbeRequest) to an evaluator, synchronous or not.
import { invalidArgument } from '../../core/errors.js';
import type { ProgressCallback } from '../../core/progress.js';
import { createLogisticLossRunner, type LogisticLossRunner } from '../../engines/onnx/logistic_loss_graph.js';
import { lbfgs, type LbfgsResult } from './lbfgs.js';

export interface LogisticRegressionOptions {
  /** Inverse regularisation strength (larger: weaker penalty). */
  c: number;
  /** L-BFGS stops when the largest gradient entry is below tolerance * max(1, |f|). Default 1e-6. */
  tolerance?: number;
  maxIterations?: number;
  /** L-BFGS also stops when the loss fell by less than this fraction over the last 5 iterations. Default 0 (off). */
  relativeLossTolerance?: number;
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

/** Rows of a dense matrix: x is row-major [n, d]. Float32 features are read as they are (half the memory). */
export interface DenseRows {
  x: Float64Array | Float32Array;
  n: number;
  d: number;
}

function outputsFor(classes: number): number {
  return classes === 2 ? 1 : classes;
}

// ---------------------------------------------------------------------------------------------------
// Requests from the steps to an evaluator. Parameters are [W (k x d, row-major) | b (k)] in the space of
// standardised features; the evaluator knows the standardisation and the data.

/** Which rows: of the training or the held-out matrix, `rows` (indices) or all of them (null). */
interface RowSet {
  source: 'train' | 'heldOut';
  rows: Int32Array | null;
}

type ProbeRequest =
  /** Summed cross-entropy of the rows (returned) and its gradient (written into `grad`), penalty excluded. */
  | { op: 'loss'; set: RowSet; params: Float64Array; grad: Float64Array }
  /** Logits of the rows, row-major [rows, k], written into `out`. */
  | { op: 'logits'; set: RowSet; params: Float64Array; out: Float64Array };

type Steps<T> = Generator<ProbeRequest, T, number>;

interface Standardization {
  mean: Float64Array;
  scale: Float64Array;
}

interface ProbeData {
  train: DenseRows;
  trainLabels: Int32Array;
  heldOut: DenseRows;
  classes: number;
  standardization: Standardization;
}

/** The Float64 evaluator: one row at a time, standardised on the fly, exact. */
function typescriptEvaluator(data: ProbeData): (request: ProbeRequest) => number {
  const { d } = data.train;
  const k = outputsFor(data.classes);
  const { mean, scale } = data.standardization;
  const xs = new Float64Array(d);
  const z = new Float64Array(k);
  const residual = new Float64Array(k);
  return (request) => {
    const { x, n } = data[request.set.source];
    const rows = request.set.rows;
    const count = rows ? rows.length : n;
    const params = request.params;
    const biasAt = k * d;
    let loss = 0;
    if (request.op === 'loss') request.grad.fill(0);
    for (let r = 0; r < count; r++) {
      const i = rows ? rows[r] : r;
      const at = i * d;
      for (let j = 0; j < d; j++) xs[j] = (x[at + j] - mean[j]) * scale[j];
      for (let o = 0; o < k; o++) {
        let s = params[biasAt + o];
        const w = o * d;
        for (let j = 0; j < d; j++) s += xs[j] * params[w + j];
        z[o] = s;
      }
      if (request.op === 'logits') {
        for (let o = 0; o < k; o++) request.out[r * k + o] = z[o];
        continue;
      }
      const t = data.trainLabels[i];
      if (k === 1) {
        const v = z[0];
        // log(1 + e^z) - t z, computed without overflow.
        loss += (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v))) - t * v;
        residual[0] = 1 / (1 + Math.exp(-v)) - t;
      } else {
        let max = -Infinity;
        for (let o = 0; o < k; o++) max = Math.max(max, z[o]);
        let sum = 0;
        for (let o = 0; o < k; o++) sum += Math.exp(z[o] - max);
        const logSum = max + Math.log(sum);
        loss += logSum - z[t];
        for (let o = 0; o < k; o++) residual[o] = Math.exp(z[o] - logSum) - (o === t ? 1 : 0);
      }
      const grad = request.grad;
      for (let o = 0; o < k; o++) {
        const g = residual[o];
        if (g === 0) continue;
        const w = o * d;
        for (let j = 0; j < d; j++) grad[w + j] += g * xs[j];
        grad[biasAt + o] += g;
      }
    }
    return loss;
  };
}

/** Rows handed to onnxruntime per call: ~16 MB of float32 features, at least 64 rows. */
function blockRowsFor(d: number): number {
  return Math.max(64, Math.floor((4 << 20) / d));
}

/** Gathered copies of row subsets kept between evaluations up to this many bytes (else gathered per block). */
const GATHER_CACHE_BYTES = 256 << 20;

/**
 * The onnxruntime evaluator: float32 products in row blocks. Standardisation is folded into the weights
 * (W' = scale * W, b' = b - mean . W'; gradient scale * (X^T R - mean sum R)), so features are read in place.
 */
async function onnxEvaluator(data: ProbeData, threads?: number, blockRowsOption?: number): Promise<{ evaluate: (request: ProbeRequest) => Promise<number>; dispose: () => Promise<void> }> {
  const { d } = data.train;
  const k = outputsFor(data.classes);
  const { mean, scale } = data.standardization;
  const runner: LogisticLossRunner = await createLogisticLossRunner(new Float32Array(d), new Float32Array(d).fill(1), k, threads);
  const blockRows = blockRowsOption ?? blockRowsFor(d);
  const block = new Float32Array(blockRows * d);
  const targets = new Float32Array(blockRows * k);
  const foldedW = new Float32Array(d * k);
  const foldedB = new Float32Array(k);
  const gradW = new Float64Array(d * k);
  const gradB = new Float64Array(k);
  // Float64 sources are converted once (float32 is what the products run in anyway).
  const float32Of = new Map<string, Float32Array>();
  const sourceOf = (source: 'train' | 'heldOut'): Float32Array => {
    const x = data[source].x;
    if (x instanceof Float32Array) return x;
    let converted = float32Of.get(source);
    if (!converted) float32Of.set(source, (converted = Float32Array.from(x)));
    return converted;
  };
  const gathered = new WeakMap<Int32Array, Float32Array>();
  let gatheredBytes = 0;

  function fold(params: Float64Array): void {
    for (let o = 0; o < k; o++) {
      let shift = 0;
      for (let j = 0; j < d; j++) {
        const w = params[o * d + j] * scale[j];
        foldedW[j * k + o] = w;
        shift += mean[j] * w;
      }
      foldedB[o] = params[k * d + o] - shift;
    }
  }

  /** The rows of `set` in blocks: views of the source when contiguous, else copies into `block`. */
  function* blocks(set: RowSet): Generator<{ x: Float32Array; start: number; count: number }> {
    const source = sourceOf(set.source);
    const rows = set.rows;
    const count = rows ? rows.length : data[set.source].n;
    let matrix: Float32Array | null = rows ? null : source;
    if (rows) {
      const cached = gathered.get(rows);
      if (cached) matrix = cached;
      else if (gatheredBytes + rows.length * d * 4 <= GATHER_CACHE_BYTES) {
        matrix = new Float32Array(rows.length * d);
        for (let r = 0; r < rows.length; r++) matrix.set(source.subarray(rows[r] * d, (rows[r] + 1) * d), r * d);
        gathered.set(rows, matrix);
        gatheredBytes += matrix.byteLength;
      }
    }
    for (let start = 0; start < count; start += blockRows) {
      const size = Math.min(blockRows, count - start);
      if (matrix) {
        yield { x: matrix.subarray(start * d, (start + size) * d), start, count: size };
        continue;
      }
      for (let r = 0; r < size; r++) {
        const i = rows![start + r];
        block.set(source.subarray(i * d, (i + 1) * d), r * d);
      }
      yield { x: block, start, count: size };
    }
  }

  async function evaluate(request: ProbeRequest): Promise<number> {
    fold(request.params);
    const rows = request.set.rows;
    if (request.op === 'logits') {
      for (const b of blocks(request.set)) {
        const z = await runner.logits(b.x, b.count, foldedW, foldedB);
        for (let v = 0; v < b.count * k; v++) request.out[b.start * k + v] = z[v];
      }
      return 0;
    }
    gradW.fill(0);
    gradB.fill(0);
    let loss = 0;
    for (const b of blocks(request.set)) {
      targets.fill(0, 0, b.count * k);
      for (let r = 0; r < b.count; r++) {
        const t = data.trainLabels[rows ? rows[b.start + r] : b.start + r];
        if (k === 1) targets[r] = t;
        else targets[r * k + t] = 1;
      }
      const out = await runner.lossAndGradient(b.x, b.count, targets, foldedW, foldedB);
      loss += out.loss;
      for (let v = 0; v < d * k; v++) gradW[v] += out.gradWeights[v];
      for (let o = 0; o < k; o++) gradB[o] += out.gradBias[o];
    }
    const grad = request.grad;
    for (let o = 0; o < k; o++) {
      for (let j = 0; j < d; j++) grad[o * d + j] = scale[j] * (gradW[j * k + o] - mean[j] * gradB[o]);
      grad[k * d + o] = gradB[o];
    }
    return loss;
  }
  return { evaluate, dispose: () => runner.dispose() };
}

function runSync<T>(steps: Steps<T>, evaluate: (request: ProbeRequest) => number): T {
  let next = steps.next();
  while (!next.done) next = steps.next(evaluate(next.value));
  return next.value;
}

async function runAsync<T>(steps: Steps<T>, evaluate: (request: ProbeRequest) => Promise<number>): Promise<T> {
  let next = steps.next();
  while (!next.done) next = steps.next(await evaluate(next.value));
  return next.value;
}

// ---------------------------------------------------------------------------------------------------
// Steps.

interface SolverSettings {
  tolerance: number;
  maxIterations: number;
  relativeLossTolerance: number;
}

/** L-BFGS on the penalised objective over `set`, from `start` (params layout). */
function* fitSteps(set: RowSet, k: number, d: number, c: number, start: Float64Array, solver: SolverSettings, onIteration?: (iteration: number, f: number) => void): Steps<LbfgsResult> {
  const minimiser = lbfgs(start, { ...solver, onIteration });
  let step = minimiser.next();
  while (!step.done) {
    const { point, grad } = step.value;
    const loss = yield { op: 'loss', set, params: point, grad };
    let squared = 0;
    for (let j = 0; j < k * d; j++) {
      squared += point[j] * point[j];
      grad[j] += point[j] / c;
    }
    step = minimiser.next(loss + (0.5 * squared) / c);
  }
  return step.value;
}

function* logitSteps(set: RowSet, count: number, k: number, params: Float64Array): Steps<Float64Array> {
  const out = new Float64Array(count * k);
  yield { op: 'logits', set, params, out };
  return out;
}

function classOfLogits(logits: Float64Array, k: number, r: number): number {
  if (k === 1) return logits[r] > 0 ? 1 : 0;
  let best = 0;
  for (let o = 1; o < k; o++) if (logits[r * k + o] > logits[r * k + best]) best = o;
  return best;
}

function accuracyOfLogits(logits: Float64Array, k: number, labels: ArrayLike<number>, rows: Int32Array | null): number {
  const count = logits.length / k;
  let right = 0;
  for (let r = 0; r < count; r++) if (classOfLogits(logits, k, r) === labels[rows ? rows[r] : r]) right++;
  return count === 0 ? Number.NaN : right / count;
}

/** Class probabilities of one row's logits into out[at ... at + classes). */
function probabilitiesOf(logits: Float64Array, k: number, r: number, out: Float32Array, at: number): void {
  if (k === 1) {
    const p = 1 / (1 + Math.exp(-logits[r]));
    out[at] = 1 - p;
    out[at + 1] = p;
    return;
  }
  let max = -Infinity;
  for (let o = 0; o < k; o++) max = Math.max(max, logits[r * k + o]);
  let sum = 0;
  for (let o = 0; o < k; o++) sum += Math.exp(logits[r * k + o] - max);
  for (let o = 0; o < k; o++) out[at + o] = Math.exp(logits[r * k + o] - max) / sum;
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
  const start = new Float64Array(k * d + k);
  if (options.init) {
    start.set(options.init.weights, 0);
    start.set(options.init.bias, k * d);
  }
  const probeData: ProbeData = { train: data, trainLabels: labels, heldOut: data, classes, standardization: { mean: new Float64Array(d), scale: new Float64Array(d).fill(1) } };
  const solver = { tolerance: options.tolerance ?? 1e-6, maxIterations: options.maxIterations ?? 500, relativeLossTolerance: options.relativeLossTolerance ?? 0 };
  const fit = runSync(fitSteps({ source: 'train', rows: null }, k, d, options.c, start, solver), typescriptEvaluator(probeData));
  return { classes, features: d, weights: fit.point.slice(0, k * d), bias: fit.point.slice(k * d), iterations: fit.iterations, converged: fit.converged };
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

/** Per-feature mean and 1/std of the training rows (std 0 -> scale 1), so one C grid suits every backbone. */
export function standardizer(data: DenseRows): Standardization {
  return standardizerOfParts([data]);
}

/** standardizer() of the rows of several parts taken together (as if stacked, without stacking them). */
export function standardizerOfParts(parts: readonly DenseRows[]): Standardization {
  const d = parts[0].d;
  const n = parts.reduce((a, p) => a + p.n, 0);
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (const { x, n: rows } of parts) for (let i = 0; i < rows; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (const { x, n: rows } of parts) {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < d; j++) {
        const v = x[i * d + j] - mean[j];
        scale[j] += v * v;
      }
    }
  }
  for (let j = 0; j < d; j++) {
    const std = Math.sqrt(scale[j] / n);
    scale[j] = std > 1e-12 ? 1 / std : 1;
  }
  return { mean, scale };
}

/** A standardised Float64 copy (the probe itself standardises on the fly and never makes one). */
export function standardize(data: DenseRows, s: Standardization): DenseRows {
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

/**
 * At most `limit` row indices (ascending), each class keeping its share, spread evenly over the class's
 * rows (deterministic, no RNG). Every row when there are at most `limit`.
 */
export function stratifiedSubsample(y: ArrayLike<number>, limit: number): Int32Array {
  const n = y.length;
  if (n <= limit) return Int32Array.from({ length: n }, (_, i) => i);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    let rows = byClass.get(y[i]);
    if (!rows) byClass.set(y[i], (rows = []));
    rows.push(i);
  }
  const picked: number[] = [];
  for (const rows of byClass.values()) {
    const take = Math.max(1, Math.round((rows.length * limit) / n));
    for (let t = 0; t < take; t++) picked.push(rows[Math.floor(((t + 0.5) * rows.length) / take)]);
  }
  return Int32Array.from(picked.sort((a, b) => a - b));
}

export interface LinearProbeOptions {
  /** Candidate C values (on standardised features), tried weakest regularisation last. Default 1e-3 ... 1. */
  cGrid?: number[];
  /** Cross-validation folds that choose C (and give the out-of-fold probabilities). Default 3. */
  folds?: number;
  /**
   * C is chosen on a stratified subsample of at most this many training rows; the final model is then
   * fitted on every row. Default 2,000: enough to rank a C grid a decade apart, while the cost of
   * cross-validation would otherwise grow with the rows.
   */
  cvRows?: number;
  /** L-BFGS stops when the largest gradient entry is below tolerance * max(1, |loss|). Default 1e-4. */
  tolerance?: number;
  /** Default 200 iterations per fit. */
  maxIterations?: number;
  /**
   * L-BFGS also stops when the loss fell by less than this fraction over 5 iterations. Default
   * tolerance / 10 for the final fit, and tolerance itself for the cross-validation fits (they only
   * rank the C values; measured on bench/probe.ts's data, the looser stop changed no fold accuracy).
   */
  relativeLossTolerance?: number;
  /**
   * Also return `outOfFoldProbabilities`: every training row's class probabilities from a model of the
   * cross-validation that did not see it, at the chosen C. Costs no fit: rows outside the cross-validation
   * subsample (more training rows than `cvRows`) are scored by the folds' mean model, which none of
   * them trained (it was 3 more fits on every row: 1-2 s of a 26 s comparison on 2,030 images).
   */
  keepOutOfFold?: boolean;
  /** Progress of the fits (task 'linear probe', in percent of the estimated work). */
  onProgress?: ProgressCallback;
  /**
   * runLinearProbe only: where the matrix products run. 'onnx' (onnxruntime, float32, in row blocks) or
   * 'typescript' (Float64 loops, exact, slow on large problems). Default: 'typescript' for problems
   * under a million n x d x classes values, else 'onnx'.
   */
  engine?: 'onnx' | 'typescript';
  /** onnxruntime threads. Default: the process's thread budget (TLKIT_THREADS or every core). */
  threads?: number;
  /** Rows per onnxruntime call. Default: ~16 MB of float32 features (2,048 rows of 2,048), at least 64. */
  blockRows?: number;
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
  /** Training rows the cross-validation that chose C ran on (all of them, or the stratified subsample). */
  cvRows?: number;
  /** Where the products ran. */
  engine?: 'onnx' | 'typescript';
  /**
   * With `keepOutOfFold: true`: row-major [training rows, classes] class probabilities, in training-row
   * order, each row's from the cross-validation model (at the chosen C) whose training folds exclude it.
   * For label-error and confidence audits, which must not score a row with a model that learnt it.
   */
  outOfFoldProbabilities?: Float32Array;
  /** Read from the probe cache (train/probes/probe_cache.ts) instead of fitted: `seconds` are the original fit's. */
  fromCache?: boolean;
}

export const DEFAULT_C_GRID = [1e-3, 1e-2, 1e-1, 1] as const;
export const DEFAULT_CV_ROWS = 2000;

interface ProbePlan {
  grid: number[];
  folds: number;
  cvRows: number;
  solver: SolverSettings;
  /** The cross-validation fits' solver (a looser loss criterion unless one was given). */
  cvSolver: SolverSettings;
  keepOutOfFold: boolean;
  onProgress?: ProgressCallback;
}

function planProbe(train: DenseRows, trainLabels: ArrayLike<number>, heldOut: DenseRows, heldOutLabels: ArrayLike<number>, classes: number, options: LinearProbeOptions): ProbePlan {
  const grid = [...(options.cGrid ?? DEFAULT_C_GRID)].sort((a, b) => a - b);
  if (grid.length === 0 || grid.some((c) => !(c > 0))) throw invalidArgument('cGrid', options.cGrid, 'a non-empty list of numbers > 0');
  const folds = options.folds ?? 3;
  if (!Number.isInteger(folds) || folds < 2) throw invalidArgument('folds', folds, 'an integer >= 2');
  const cvRows = options.cvRows ?? DEFAULT_CV_ROWS;
  if (!Number.isInteger(cvRows) || cvRows < 2 * folds) throw invalidArgument('cvRows', options.cvRows, `an integer >= 2 x folds (${2 * folds})`);
  if (!Number.isInteger(classes) || classes < 2) throw invalidArgument('classes', classes, 'an integer >= 2');
  if (heldOut.d !== train.d) throw invalidArgument('heldOut', `${heldOut.d} features`, `${train.d} features, as the training rows`);
  if (train.x.length !== train.n * train.d) throw invalidArgument('train.x', `${train.x.length} values`, `n * d = ${train.n * train.d} values`);
  if (heldOut.x.length !== heldOut.n * heldOut.d) throw invalidArgument('heldOut.x', `${heldOut.x.length} values`, `n * d = ${heldOut.n * heldOut.d} values`);
  if (trainLabels.length !== train.n) throw invalidArgument('trainLabels', `${trainLabels.length} labels`, `one label per training row (${train.n})`);
  if (heldOutLabels.length !== heldOut.n) throw invalidArgument('heldOutLabels', `${heldOutLabels.length} labels`, `one label per held-out row (${heldOut.n})`);
  for (const t of trainLabels as ArrayLike<number> & Iterable<number>) if (!Number.isInteger(t) || t < 0 || t >= classes) throw invalidArgument('trainLabels', t, `class indices in [0, ${classes})`);
  const tolerance = options.tolerance ?? 1e-4;
  const solver = { tolerance, maxIterations: options.maxIterations ?? 200, relativeLossTolerance: options.relativeLossTolerance ?? tolerance / 10 };
  const cvSolver = { ...solver, relativeLossTolerance: options.relativeLossTolerance ?? tolerance };
  return { grid, folds, cvRows, solver, cvSolver, keepOutOfFold: Boolean(options.keepOutOfFold), onProgress: options.onProgress };
}

/** Progress in percent of the planned fits, each weighted by its rows; within a fit, by iterations. */
class ProbeProgress {
  private done = 0;
  private readonly total: number;
  private iterationsSeen: number[] = [];

  constructor(
    private readonly onProgress: ProgressCallback | undefined,
    fitRows: number[],
    private readonly maxIterations: number,
  ) {
    this.total = fitRows.reduce((a, b) => a + b, 0);
  }

  /** The callbacks of one fit over `rows` rows. */
  fit(rows: number): { onIteration: (iteration: number, f: number) => void; finish: (iterations: number) => void } {
    const expected = this.iterationsSeen.length ? this.iterationsSeen.reduce((a, b) => a + b, 0) / this.iterationsSeen.length : this.maxIterations / 2;
    return {
      onIteration: (iteration, f) => {
        const within = Math.min(0.95, iteration / Math.max(1, expected));
        this.emit(this.done + within * rows, { iteration, loss: f });
      },
      finish: (iterations) => {
        this.iterationsSeen.push(iterations);
        this.done += rows;
        this.emit(this.done, { iterations });
      },
    };
  }

  private emit(units: number, metrics: Record<string, number>): void {
    this.onProgress?.({ task: 'linear probe', current: Math.round((100 * units) / Math.max(1, this.total)), total: 100, unit: '%', metrics });
  }

  end(): void {
    this.onProgress?.({ task: 'linear probe', current: 100, total: 100, unit: '%', done: true });
  }
}

function subset(rows: Int32Array, keep: (r: number) => boolean): Int32Array {
  const out: number[] = [];
  for (let r = 0; r < rows.length; r++) if (keep(r)) out.push(rows[r]);
  return Int32Array.from(out);
}

/**
 * The probe's steps: standardisation on the training rows, C by stratified k-fold cross-validation on
 * (a subsample of) the training rows along a warm-started C path (ties: the stronger penalty), the final
 * fit on every training row from the folds' mean solution, scores, and the out-of-fold probabilities.
 */
function* probeSteps(data: ProbeData, heldOutLabels: ArrayLike<number>, plan: ProbePlan): Steps<Omit<LinearProbeResult, 'seconds' | 'engine'>> {
  const { grid, folds, solver } = plan;
  const { n, d } = data.train;
  const k = outputsFor(data.classes);
  const size = k * d + k;
  const labels = data.trainLabels;
  const sample = stratifiedSubsample(labels, plan.cvRows);
  const sampleIsAll = sample.length === n;
  const sampleFold = stratifiedFolds(Array.from(sample, (i) => labels[i]), folds);
  const foldRows = Array.from({ length: folds }, (_, f) => ({
    fit: subset(sample, (r) => sampleFold[r] !== f),
    check: subset(sample, (r) => sampleFold[r] === f),
  }));
  const progress = new ProbeProgress(plan.onProgress, [...foldRows.flatMap((f) => grid.map(() => f.fit.length)), n], solver.maxIterations);

  const correct = new Float64Array(grid.length);
  const foldSolutions: Float64Array[][] = grid.map(() => []);
  // Out-of-fold logits of the sample's rows at each C (the rows outside the sample are added below).
  const oofLogits = plan.keepOutOfFold ? grid.map(() => new Float64Array(n * k)) : null;
  for (const [f, rows] of foldRows.entries()) {
    if (rows.check.length === 0 || rows.fit.length === 0) continue;
    // Warm start along the path: each C starts from the previous (stronger-penalty) solution.
    let start: Float64Array = new Float64Array(size);
    for (const [g, c] of grid.entries()) {
      const tracker = progress.fit(rows.fit.length);
      const fit = yield* fitSteps({ source: 'train', rows: rows.fit }, k, d, c, start, plan.cvSolver, tracker.onIteration);
      tracker.finish(fit.iterations);
      const logits = yield* logitSteps({ source: 'train', rows: rows.check }, rows.check.length, k, fit.point);
      correct[g] += accuracyOfLogits(logits, k, labels, rows.check) * rows.check.length;
      foldSolutions[g].push(fit.point);
      if (oofLogits) rows.check.forEach((i, r) => oofLogits[g].set(logits.subarray(r * k, (r + 1) * k), i * k));
      start = fit.point;
    }
  }
  const cvAccuracy = grid.map((c, g) => ({ c, accuracy: correct[g] / sample.length }));
  let bestIndex = 0;
  cvAccuracy.forEach((r, g) => {
    if (r.accuracy > cvAccuracy[bestIndex].accuracy) bestIndex = g;
  });
  const c = grid[bestIndex];
  // The final fit starts from the folds' mean solution at that C: most of the way there already.
  const start = new Float64Array(size);
  for (const s of foldSolutions[bestIndex]) for (let j = 0; j < size; j++) start[j] += s[j] / foldSolutions[bestIndex].length;
  if (oofLogits && !sampleIsAll) {
    // No fold model saw a row outside the sample: the folds' mean model (the mean of their logits, the
    // model being linear) scores them out of fold, with no fit of its own.
    const inSample = new Uint8Array(n);
    for (const i of sample) inSample[i] = 1;
    const rest = Int32Array.from({ length: n }, (_, i) => i).filter((i) => inSample[i] === 0);
    const logits = yield* logitSteps({ source: 'train', rows: rest }, rest.length, k, start);
    rest.forEach((i, r) => oofLogits[bestIndex].set(logits.subarray(r * k, (r + 1) * k), i * k));
  }
  const tracker = progress.fit(n);
  const model = yield* fitSteps({ source: 'train', rows: null }, k, d, c, start, solver, tracker.onIteration);
  tracker.finish(model.iterations);
  const trainLogits = yield* logitSteps({ source: 'train', rows: null }, n, k, model.point);
  const heldOutLogits = yield* logitSteps({ source: 'heldOut', rows: null }, data.heldOut.n, k, model.point);

  let outOfFoldProbabilities: Float32Array | undefined;
  if (plan.keepOutOfFold) {
    outOfFoldProbabilities = new Float32Array(n * data.classes);
    for (let i = 0; i < n; i++) probabilitiesOf(oofLogits![bestIndex], k, i, outOfFoldProbabilities, i * data.classes);
  }
  progress.end();
  return {
    accuracy: accuracyOfLogits(heldOutLogits, k, heldOutLabels, null),
    trainAccuracy: accuracyOfLogits(trainLogits, k, labels, null),
    c,
    cvAccuracy,
    features: d,
    cvRows: sample.length,
    ...(outOfFoldProbabilities ? { outOfFoldProbabilities } : {}),
  };
}

function probeData(train: DenseRows, trainLabels: ArrayLike<number>, heldOut: DenseRows, classes: number): ProbeData {
  return { train, trainLabels: Int32Array.from(trainLabels), heldOut, classes, standardization: standardizer(train) };
}

/**
 * The probe in Float64 TypeScript loops, synchronously: exact, and the reference for `runLinearProbe`,
 * which gives the same result (within float32 rounding) many times faster on large problems.
 * Standardises the features on the training rows, picks C by stratified k-fold cross-validation on (a
 * subsample of at most `cvRows` of) the training rows, refits on all training rows, scores the held-out rows.
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
  const plan = planProbe(train, trainLabels, heldOut, heldOutLabels, classes, options);
  const data = probeData(train, trainLabels, heldOut, classes);
  const result = runSync(probeSteps(data, heldOutLabels, plan), typescriptEvaluator(data));
  return { ...result, engine: 'typescript', seconds: (performance.now() - started) / 1000 };
}

/** Below this many n x d x classes values the Float64 loops are as quick as starting onnxruntime. */
const TYPESCRIPT_BELOW = 1_000_000;

/**
 * The linear probe with its matrix products on onnxruntime (float32, in row blocks): the one to use on
 * real data. Same steps, options and result as `linearProbe`.
 */
export async function runLinearProbe(
  train: DenseRows,
  trainLabels: ArrayLike<number>,
  heldOut: DenseRows,
  heldOutLabels: ArrayLike<number>,
  classes: number,
  options: LinearProbeOptions = {},
): Promise<LinearProbeResult> {
  const engine = options.engine ?? (train.n * train.d * classes < TYPESCRIPT_BELOW ? 'typescript' : 'onnx');
  if (engine !== 'onnx' && engine !== 'typescript') throw invalidArgument('engine', options.engine, "'onnx' or 'typescript'");
  if (engine === 'typescript') return linearProbe(train, trainLabels, heldOut, heldOutLabels, classes, options);
  const started = performance.now();
  const plan = planProbe(train, trainLabels, heldOut, heldOutLabels, classes, options);
  const data = probeData(train, trainLabels, heldOut, classes);
  if (options.blockRows !== undefined && !(Number.isInteger(options.blockRows) && options.blockRows >= 1)) throw invalidArgument('blockRows', options.blockRows, 'an integer >= 1');
  const evaluator = await onnxEvaluator(data, options.threads, options.blockRows);
  try {
    const result = await runAsync(probeSteps(data, heldOutLabels, plan), evaluator.evaluate);
    return { ...result, engine: 'onnx', seconds: (performance.now() - started) / 1000 };
  } finally {
    await evaluator.dispose();
  }
}
