// BatchNormalization in training mode (batch statistics over every axis but the last) as three
// one-pass TypeScript kernels on the wasm heap, and `batchNormTraining`, the differentiable op built
// from them. tfjs-layers computes the same thing from moments() + batchNorm(): on wasm that is two
// transposing Means, a SquaredDifference and the FusedBatchNorm forward, then about 15 full-size
// tensors in the backward pass (all kept until the backward pass ends). Here: one output forward, one
// gradient backward, and x saved without a copy.
import type { KernelConfig, KernelFunc, NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { allocate, asWasmBackend, heapF32, offsetF32 } from './wasm_heap.js';

export const BATCH_NORM_STATS = 'TlkitBatchNormStats';
export const BATCH_NORM_NORMALIZE = 'TlkitBatchNormNormalize';
export const BATCH_NORM_TRAINING_BACKWARD = 'TlkitBatchNormTrainingBackward';

let scratch = new Float64Array(0);
function accumulators(size: number): Float64Array {
  if (scratch.length < size) scratch = new Float64Array(size);
  scratch.fill(0, 0, size);
  return scratch;
}

/** x [..., C] -> [2, C]: per-channel mean and (biased) variance, as tf.moments computes them. */
function stats(args: { inputs: { x: TensorInfo }; backend: unknown }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x } = args.inputs;
  const C = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const out = allocate(backend, [2, C]);
  const heap = heapF32(backend);
  const xs = offsetF32(backend, x);
  const acc = accumulators(2 * C);
  // Two passes (mean, then squared deviations) as tf.moments does; one pass of sums of squares would
  // lose digits when |mean| >> std.
  for (let r = 0; r < rows; r++) {
    const base = xs + r * C;
    for (let c = 0; c < C; c++) acc[c] += heap[base + c];
  }
  for (let c = 0; c < C; c++) acc[c] /= rows;
  for (let r = 0; r < rows; r++) {
    const base = xs + r * C;
    for (let c = 0; c < C; c++) {
      const d = heap[base + c] - acc[c];
      acc[C + c] += d * d;
    }
  }
  const o = offsetF32(backend, out);
  for (let c = 0; c < C; c++) {
    heap[o + c] = acc[c];
    heap[o + C + c] = acc[C + c] / rows;
  }
  return out;
}

/** y = (x - mean) / sqrt(variance + epsilon) * gamma + beta, with stats from `stats`. */
function normalize(args: { inputs: Record<string, TensorInfo | undefined>; backend: unknown; attrs: { epsilon: number } }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, stats: st, gamma, beta } = args.inputs as Record<string, TensorInfo>;
  const C = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const y = allocate(backend, x.shape);
  const heap = heapF32(backend);
  const xs = offsetF32(backend, x);
  const ys = offsetF32(backend, y);
  const ss = offsetF32(backend, st);
  const gs = gamma === undefined ? -1 : offsetF32(backend, gamma);
  const bs = beta === undefined ? -1 : offsetF32(backend, beta);
  const acc = accumulators(2 * C);
  for (let c = 0; c < C; c++) {
    const k = (gs < 0 ? 1 : heap[gs + c]) / Math.sqrt(heap[ss + C + c] + args.attrs.epsilon);
    acc[c] = k; // y = x * k + (beta - mean * k)
    acc[C + c] = (bs < 0 ? 0 : heap[bs + c]) - heap[ss + c] * k;
  }
  for (let r = 0; r < rows; r++) {
    const base = r * C;
    for (let c = 0; c < C; c++) heap[ys + base + c] = heap[xs + base + c] * acc[c] + acc[C + c];
  }
  return y;
}

/**
 * Gradients of y = normalize(x, batch stats of x) through the statistics:
 * dx = gamma * invStd * (dy - mean(dy) - (x - mean) * invStd^2 * mean(dy * (x - mean))),
 * dgamma = invStd * Σ dy (x - mean), dbeta = Σ dy.
 */
function trainingBackward(args: { inputs: Record<string, TensorInfo | undefined>; backend: unknown; attrs: { epsilon: number } }): TensorInfo[] {
  const backend = asWasmBackend(args.backend);
  const { x, dy, stats: st, gamma } = args.inputs as Record<string, TensorInfo>;
  const C = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const dx = allocate(backend, x.shape);
  const dGamma = allocate(backend, [C]);
  const dBeta = allocate(backend, [C]);
  const heap = heapF32(backend);
  const xs = offsetF32(backend, x);
  const dys = offsetF32(backend, dy);
  const dxs = offsetF32(backend, dx);
  const ss = offsetF32(backend, st);
  const gs = gamma === undefined ? -1 : offsetF32(backend, gamma);
  const acc = accumulators(6 * C);
  // [0,C): Σdy  [C,2C): Σdy(x-mean)  [2C,3C): mean  [3C,4C): gamma*invStd  [4C,5C): mean(dy)  [5C,6C): invStd^2 * mean(dy(x-mean))
  for (let c = 0; c < C; c++) acc[2 * C + c] = heap[ss + c];
  for (let r = 0; r < rows; r++) {
    const base = r * C;
    for (let c = 0; c < C; c++) {
      const d = heap[dys + base + c];
      acc[c] += d;
      acc[C + c] += d * (heap[xs + base + c] - acc[2 * C + c]);
    }
  }
  const epsilon = args.attrs.epsilon;
  for (let c = 0; c < C; c++) {
    const invStd = 1 / Math.sqrt(heap[ss + C + c] + epsilon);
    acc[3 * C + c] = (gs < 0 ? 1 : heap[gs + c]) * invStd;
    acc[4 * C + c] = acc[c] / rows;
    acc[5 * C + c] = (invStd * invStd * acc[C + c]) / rows;
  }
  for (let r = 0; r < rows; r++) {
    const base = r * C;
    for (let c = 0; c < C; c++) {
      const centered = heap[xs + base + c] - acc[2 * C + c];
      heap[dxs + base + c] = acc[3 * C + c] * (heap[dys + base + c] - acc[4 * C + c] - centered * acc[5 * C + c]);
    }
  }
  const g = offsetF32(backend, dGamma);
  const b = offsetF32(backend, dBeta);
  for (let c = 0; c < C; c++) {
    heap[g + c] = acc[C + c] / Math.sqrt(heap[ss + C + c] + epsilon);
    heap[b + c] = acc[c];
  }
  return [dx, dGamma, dBeta];
}

export const batchNormStatsConfig: KernelConfig = {
  kernelName: BATCH_NORM_STATS,
  backendName: 'wasm',
  kernelFunc: stats as unknown as KernelFunc,
};
export const batchNormNormalizeConfig: KernelConfig = {
  kernelName: BATCH_NORM_NORMALIZE,
  backendName: 'wasm',
  kernelFunc: normalize as unknown as KernelFunc,
};
export const batchNormTrainingBackwardConfig: KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_BACKWARD,
  backendName: 'wasm',
  kernelFunc: trainingBackward as unknown as KernelFunc,
};

export interface BatchNormTrainingResult {
  /** The normalised batch; differentiable with respect to x, gamma and beta. */
  y: Tensor;
  /** Batch mean and biased variance per channel (not differentiable: for the moving averages). */
  mean: Tensor;
  variance: Tensor;
}

/**
 * Training-mode batch normalisation over every axis but the last, on the wasm backend. Matches
 * tfjs-layers' normalizeBatchInTraining (moments + batchNorm) in value and gradient. gamma / beta may be
 * null (Keras scale=False / center=False).
 */
export function batchNormTraining(x: Tensor, gamma: Tensor | null, beta: Tensor | null, epsilon: number): BatchNormTrainingResult {
  const channels = x.shape[x.rank - 1];
  const statistics = tf.engine().runKernel(BATCH_NORM_STATS, { x }) as Tensor;
  const attrs = { epsilon } as unknown as NamedAttrMap;
  const g = gamma ?? tf.ones([channels]);
  const b = beta ?? tf.zeros([channels]);
  const forward = (xIn: Tensor, gIn: Tensor, bIn: Tensor, save: (tensors: Tensor[]) => void) => {
    save([xIn, gIn, statistics]);
    const inputs: Record<string, Tensor> = { x: xIn, stats: statistics, gamma: gIn, beta: bIn };
    const value = tf.engine().runKernel(BATCH_NORM_NORMALIZE, inputs, attrs) as Tensor;
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xs, gs, st] = saved;
        return tf.engine().runKernel(BATCH_NORM_TRAINING_BACKWARD, { x: xs, dy, stats: st, gamma: gs }, attrs) as Tensor[];
      },
    };
  };
  const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, g, b) as Tensor;
  const [mean, variance] = tf.tidy(() => [
    tf.reshape(tf.slice(statistics, [0, 0], [1, channels]), [channels]),
    tf.reshape(tf.slice(statistics, [1, 0], [1, channels]), [channels]),
  ]);
  statistics.dispose();
  if (gamma === null) g.dispose();
  if (beta === null) b.dispose();
  return { y, mean, variance };
}
