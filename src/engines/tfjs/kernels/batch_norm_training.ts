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

const scratch: Float64Array[] = [];
/** Per-channel Float64 work arrays, zeroed; reused across calls (the kernels are synchronous). */
function work(count: number, C: number): Float64Array[] {
  for (let i = 0; i < count; i++) {
    if (scratch[i] === undefined || scratch[i].length < C) scratch[i] = new Float64Array(C);
    scratch[i].fill(0, 0, C);
  }
  return scratch.slice(0, count);
}

/** x [..., C] -> mean [C] and biased variance [C] over every other axis, as tf.moments computes them. */
function stats(args: { inputs: { x: TensorInfo }; backend: unknown }): TensorInfo[] {
  const backend = asWasmBackend(args.backend);
  const { x } = args.inputs;
  const C = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const mean = allocate(backend, [C]);
  const variance = allocate(backend, [C]);
  const heap = heapF32(backend);
  const xs = offsetF32(backend, x);
  const [sum, sumSquares] = work(2, C);
  // One pass of sums and sums of squares in Float64: float32 inputs keep ~16 digits of headroom, so
  // E[x^2] - mean^2 only loses precision when |mean| / std exceeds ~1e6, far beyond real activations.
  for (let r = 0; r < rows; r++) {
    const row = xs + r * C;
    for (let c = 0; c < C; c++) {
      const v = heap[row + c];
      sum[c] += v;
      sumSquares[c] += v * v;
    }
  }
  const m = offsetF32(backend, mean);
  const v = offsetF32(backend, variance);
  for (let c = 0; c < C; c++) {
    const mu = sum[c] / rows;
    heap[m + c] = mu;
    heap[v + c] = Math.max(0, sumSquares[c] / rows - mu * mu);
  }
  return [mean, variance];
}

/** y = (x - mean) / sqrt(variance + epsilon) * gamma + beta. */
function normalize(args: { inputs: Record<string, TensorInfo | undefined>; backend: unknown; attrs: { epsilon: number } }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, mean, variance, gamma, beta } = args.inputs as Record<string, TensorInfo>;
  const C = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const y = allocate(backend, x.shape);
  const heap = heapF32(backend);
  const xs = offsetF32(backend, x);
  const ys = offsetF32(backend, y);
  const ms = offsetF32(backend, mean);
  const vs = offsetF32(backend, variance);
  const gs = gamma === undefined ? -1 : offsetF32(backend, gamma);
  const bs = beta === undefined ? -1 : offsetF32(backend, beta);
  const [scale, shift] = work(2, C);
  for (let c = 0; c < C; c++) {
    const k = (gs < 0 ? 1 : heap[gs + c]) / Math.sqrt(heap[vs + c] + args.attrs.epsilon);
    scale[c] = k; // y = x * k + (beta - mean * k)
    shift[c] = (bs < 0 ? 0 : heap[bs + c]) - heap[ms + c] * k;
  }
  for (let r = 0; r < rows; r++) {
    const xRow = xs + r * C;
    const yRow = ys + r * C;
    for (let c = 0; c < C; c++) heap[yRow + c] = heap[xRow + c] * scale[c] + shift[c];
  }
  return y;
}

/**
 * Gradients of y = normalize(x, batch stats of x) through the statistics:
 * dx = gamma * invStd * (dy - mean(dy) - (x - mean) * invStd^2 * mean(dy * (x - mean))),
 * dgamma = invStd * sum(dy * (x - mean)), dbeta = sum(dy).
 */
function trainingBackward(args: { inputs: Record<string, TensorInfo | undefined>; backend: unknown; attrs: { epsilon: number } }): TensorInfo[] {
  const backend = asWasmBackend(args.backend);
  const { x, dy, mean, variance, gamma } = args.inputs as Record<string, TensorInfo>;
  const C = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const dx = allocate(backend, x.shape);
  const dGamma = allocate(backend, [C]);
  const dBeta = allocate(backend, [C]);
  const heap = heapF32(backend);
  const xs = offsetF32(backend, x);
  const dys = offsetF32(backend, dy);
  const dxs = offsetF32(backend, dx);
  const ms = offsetF32(backend, mean);
  const vs = offsetF32(backend, variance);
  const gs = gamma === undefined ? -1 : offsetF32(backend, gamma);
  const [sumDy, sumDyX, scaleDy, scaleX, offset] = work(5, C);
  // Pass 1: sum(dy) and sum(dy * x); sum(dy * (x - mean)) = sum(dy * x) - mean * sum(dy), in Float64.
  for (let r = 0; r < rows; r++) {
    const xRow = xs + r * C;
    const dRow = dys + r * C;
    for (let c = 0; c < C; c++) {
      const d = heap[dRow + c];
      sumDy[c] += d;
      sumDyX[c] += d * heap[xRow + c];
    }
  }
  const epsilon = args.attrs.epsilon;
  const g = offsetF32(backend, dGamma);
  const b = offsetF32(backend, dBeta);
  for (let c = 0; c < C; c++) {
    const mu = heap[ms + c];
    const invStd = 1 / Math.sqrt(heap[vs + c] + epsilon);
    const sumDyXc = sumDyX[c] - mu * sumDy[c];
    const gain = (gs < 0 ? 1 : heap[gs + c]) * invStd;
    const slope = (invStd * invStd * sumDyXc) / rows;
    // dx = gain * (dy - mean(dy) - (x - mean) * slope) = scaleDy * dy + scaleX * x + offset
    scaleDy[c] = gain;
    scaleX[c] = -gain * slope;
    offset[c] = gain * (mu * slope - sumDy[c] / rows);
    heap[g + c] = sumDyXc * invStd;
    heap[b + c] = sumDy[c];
  }
  // Pass 2: dx.
  for (let r = 0; r < rows; r++) {
    const xRow = xs + r * C;
    const dRow = dys + r * C;
    const oRow = dxs + r * C;
    for (let c = 0; c < C; c++) heap[oRow + c] = scaleDy[c] * heap[dRow + c] + scaleX[c] * heap[xRow + c] + offset[c];
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
  const [mean, variance] = tf.engine().runKernel(BATCH_NORM_STATS, { x }) as Tensor[];
  const attrs = { epsilon } as unknown as NamedAttrMap;
  const g = gamma ?? tf.ones([channels]);
  const b = beta ?? tf.zeros([channels]);
  const forward = (xIn: Tensor, gIn: Tensor, bIn: Tensor, save: (tensors: Tensor[]) => void) => {
    save([xIn, gIn, mean, variance]);
    const inputs: Record<string, Tensor> = { x: xIn, mean, variance, gamma: gIn, beta: bIn };
    const value = tf.engine().runKernel(BATCH_NORM_NORMALIZE, inputs, attrs) as Tensor;
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xs, gs, ms, vs] = saved;
        return tf.engine().runKernel(BATCH_NORM_TRAINING_BACKWARD, { x: xs, dy, mean: ms, variance: vs, gamma: gs }, attrs) as Tensor[];
      },
    };
  };
  const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, g, b) as Tensor;
  if (gamma === null) g.dispose();
  if (beta === null) b.dispose();
  return { y, mean, variance };
}
