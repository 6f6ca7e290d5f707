// L-BFGS (memory 10, backtracking Armijo line search) written as a generator: it yields each point
// whose objective it needs and receives the value back, so one algorithm serves a synchronous caller
// (plain Float64 loops) and an asynchronous one (matrix products on onnxruntime) alike.

/** A request from the minimiser: fill `grad` with the gradient at `point` and send back the value. */
export interface ObjectiveRequest {
  point: Float64Array;
  grad: Float64Array;
}

export interface LbfgsOptions {
  /** Stops when the largest gradient entry is below tolerance * max(1, |f|). */
  tolerance: number;
  maxIterations: number;
  /**
   * Also stops when the objective fell by less than this fraction of |f| over the last
   * `lossWindow` iterations: past that point a probe's accuracy no longer moves while the gradient test,
   * on a large flat problem, can take hundreds more iterations. 0 turns it off.
   */
  relativeLossTolerance?: number;
  lossWindow?: number;
  /** Called after each accepted iteration (for progress). */
  onIteration?: (iteration: number, f: number) => void;
}

export interface LbfgsResult {
  point: Float64Array;
  f: number;
  iterations: number;
  converged: boolean;
  /** Objective evaluations, the line search's included (each costs one pass over the rows). */
  evaluations: number;
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

const MEMORY = 10;

/** Minimises from `start` (not modified). Drive it with `runSync` or `runAsync`. */
export function* lbfgs(start: Float64Array, options: LbfgsOptions): Generator<ObjectiveRequest, LbfgsResult, number> {
  const size = start.length;
  const { tolerance, maxIterations } = options;
  const relativeLossTolerance = options.relativeLossTolerance ?? 0;
  const lossWindow = options.lossWindow ?? 5;
  const params = Float64Array.from(start);
  const grad = new Float64Array(size);
  let evaluations = 1;
  let f: number = yield { point: params, grad };
  const recent: number[] = [f];
  const sHistory: Float64Array[] = [];
  const yHistory: Float64Array[] = [];
  const rhoHistory: number[] = [];
  const direction = new Float64Array(size);
  const trial = new Float64Array(size);
  const trialGrad = new Float64Array(size);
  const alpha = new Float64Array(MEMORY);
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
      evaluations++;
      fTrial = yield { point: trial, grad: trialGrad };
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
      if (sHistory.length === MEMORY) {
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
    options.onIteration?.(iterations, f);
    converged = maxAbs(grad) <= tolerance * Math.max(1, Math.abs(f));
    recent.push(f);
    if (recent.length > lossWindow + 1) recent.shift();
    if (!converged && relativeLossTolerance > 0 && recent.length === lossWindow + 1) {
      converged = recent[0] - f <= relativeLossTolerance * Math.max(1, Math.abs(f));
    }
  }
  return { point: params, f, iterations, converged, evaluations };
}
