// One-pass gradients of the clipping activations on wasm: dx = dy where x lies in the pass-through
// interval, else 0. tfjs builds them from 3-5 full-size ops each (ClipByValue: GreaterEqual, LessEqual,
// LogicalAnd, ZerosLike, Select), a measurable share of a MobileNetV2 step (ReLU(6.) = Relu + ClipByValue).
import type { GradConfig, KernelConfig, KernelFunc, NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { allocate, asWasmBackend, heapF32, offsetF32 } from './wasm_heap.js';

export const MASK_GRAD = 'TlkitIntervalMaskGrad';

interface MaskAttrs {
  low: number;
  high: number;
  /** Whether x == low passes (ClipByValue) or not (Relu, Relu6: their step(x) is 0 at 0). */
  lowInclusive: boolean;
}

function intervalMaskGrad(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: unknown; attrs: MaskAttrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, dy } = args.inputs;
  const { low, high, lowInclusive } = args.attrs;
  const size = tf.util.sizeFromShape(x.shape);
  const dx = allocate(backend, x.shape);
  const heap = heapF32(backend);
  const xs = offsetF32(backend, x);
  const dys = offsetF32(backend, dy);
  const dxs = offsetF32(backend, dx);
  // Branch-free (the mask is a 0/1 product): activations flip sign at random, and a branch per element
  // mispredicts often enough to make the loop three times slower.
  if (lowInclusive) {
    for (let i = 0; i < size; i++) {
      const v = heap[xs + i];
      heap[dxs + i] = heap[dys + i] * (+(v >= low) * +(v <= high));
    }
  } else {
    for (let i = 0; i < size; i++) {
      const v = heap[xs + i];
      heap[dxs + i] = heap[dys + i] * (+(v > low) * +(v <= high));
    }
  }
  return dx;
}

export const intervalMaskGradConfig: KernelConfig = {
  kernelName: MASK_GRAD,
  backendName: 'wasm',
  kernelFunc: intervalMaskGrad as unknown as KernelFunc,
};

function maskGradient(kernelName: string, original: GradConfig, interval: (attrs: NamedAttrMap) => MaskAttrs): GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as Tensor[];
      const dyTensor = Array.isArray(dy) ? dy[0] : dy;
      if (tf.getBackend() !== 'wasm' || x.dtype !== 'float32' || dyTensor.dtype !== 'float32') {
        return original.gradFunc(dy, saved, attrs);
      }
      const maskAttrs = interval(attrs);
      return {
        x: () => tf.engine().runKernel(MASK_GRAD, { x, dy: dyTensor }, maskAttrs as unknown as NamedAttrMap) as Tensor,
      };
    },
  };
}

export function clipByValueGradConfig(original: GradConfig): GradConfig {
  return maskGradient('ClipByValue', original, (attrs) => ({
    low: attrs.clipValueMin as number,
    high: attrs.clipValueMax as number,
    lowInclusive: true,
  }));
}

export function reluGradConfig(original: GradConfig): GradConfig {
  return maskGradient('Relu', original, () => ({ low: 0, high: Infinity, lowInclusive: false }));
}

export function relu6GradConfig(original: GradConfig): GradConfig {
  return maskGradient('Relu6', original, () => ({ low: 0, high: 6, lowInclusive: false }));
}
