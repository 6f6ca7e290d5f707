// The gradient of FusedBatchNorm on wasm in one pass. tfjs's own gradient tiles the scale to the full
// activation shape and runs about ten full-size ops per BatchNormalization layer (the Tile alone was a
// third of a MobileNetV2 training step). Here one TypeScript kernel reads dy and x once, writes dx and
// the two per-channel sums every other gradient needs; the rest is arithmetic on [C] vectors.
import type { GradConfig, KernelConfig, KernelFunc, NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { allocate, asWasmBackend, heapF32, offsetF32 } from './wasm_heap.js';

export const BATCH_NORM_BACKWARD = 'TlkitBatchNormBackward';

let sumScratch = new Float64Array(0);

/**
 * Inputs x [..., C], dy (same shape), mean [C], variance [C], scale [C] (optional).
 * Outputs dx = dy * scale / sqrt(variance + eps) and sums [2, C] = (Σ dy, Σ dy * (x - mean)) over all
 * but the channel axis.
 */
function batchNormBackward(args: { inputs: Record<string, TensorInfo | undefined>; backend: unknown; attrs: { varianceEpsilon: number } }): TensorInfo[] {
  const backend = asWasmBackend(args.backend);
  const { x, dy, mean, variance, scale } = args.inputs as Record<string, TensorInfo>;
  const C = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const dx = allocate(backend, x.shape);
  const sums = allocate(backend, [2, C]);
  const heap = heapF32(backend);
  const xs = offsetF32(backend, x);
  const dys = offsetF32(backend, dy);
  const dxs = offsetF32(backend, dx);
  const ms = offsetF32(backend, mean);
  const vs = offsetF32(backend, variance);
  const ss = scale === undefined ? -1 : offsetF32(backend, scale);

  if (sumScratch.length < 4 * C) sumScratch = new Float64Array(4 * C);
  const acc = sumScratch;
  // acc[0..C): Σdy, [C..2C): Σdy(x-mean), [2C..3C): mean, [3C..4C): dy -> dx factor.
  for (let c = 0; c < C; c++) {
    acc[c] = 0;
    acc[C + c] = 0;
    acc[2 * C + c] = heap[ms + c];
    acc[3 * C + c] = (ss < 0 ? 1 : heap[ss + c]) / Math.sqrt(heap[vs + c] + args.attrs.varianceEpsilon);
  }
  for (let r = 0; r < rows; r++) {
    const base = r * C;
    for (let c = 0; c < C; c++) {
      const d = heap[dys + base + c];
      acc[c] += d;
      acc[C + c] += d * (heap[xs + base + c] - acc[2 * C + c]);
      heap[dxs + base + c] = d * acc[3 * C + c];
    }
  }
  const so = offsetF32(backend, sums);
  for (let i = 0; i < 2 * C; i++) heap[so + i] = acc[i];
  return [dx, sums];
}

export const batchNormBackwardConfig: KernelConfig = {
  kernelName: BATCH_NORM_BACKWARD,
  backendName: 'wasm',
  kernelFunc: batchNormBackward as unknown as KernelFunc,
};

/** Replaces tfjs's FusedBatchNorm gradient on wasm for per-channel statistics; other cases keep tfjs's. */
export function fusedBatchNormGradConfig(original: GradConfig): GradConfig {
  return {
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved as (Tensor | undefined)[];
      const dyTensor = Array.isArray(dy) ? dy[0] : dy;
      const channels = x!.shape[x!.rank - 1];
      if (tf.getBackend() !== 'wasm' || mean!.rank !== 1 || mean!.shape[0] !== channels) {
        return original.gradFunc(dy, saved, attrs);
      }
      const epsilon = (attrs as { varianceEpsilon: number }).varianceEpsilon;
      const inputs: Record<string, Tensor> = { x: x!, dy: dyTensor, mean: mean!, variance: variance! };
      if (scale !== undefined) inputs.scale = scale;
      const [dx, sums] = tf.engine().runKernel(BATCH_NORM_BACKWARD, inputs, { varianceEpsilon: epsilon } as unknown as NamedAttrMap) as Tensor[];
      const sumDy = () => tf.reshape(tf.slice(sums, [0, 0], [1, channels]), [channels]);
      const sumDyXc = () => tf.reshape(tf.slice(sums, [1, 0], [1, channels]), [channels]);
      const invStd = () => tf.rsqrt(tf.add(variance!, epsilon));
      const scaleOrOne = () => (scale === undefined ? tf.scalar(1) : scale);
      return {
        x: () => dx,
        // d/dmean of scale * (x - mean) * invStd
        mean: () => tf.neg(tf.mul(tf.mul(invStd(), scaleOrOne()), sumDy())),
        // d/dvariance of scale * (x - mean) * (variance + eps)^-1/2
        variance: () => tf.mul(tf.mul(tf.mul(tf.pow(invStd(), 3), scaleOrOne()), sumDyXc()), -0.5),
        scale: () => tf.mul(invStd(), sumDyXc()),
        offset: sumDy,
      };
    },
  };
}
