// DepthwiseConv2dNativeBackpropInput for wasm (the backend ships none). With channel multiplier 1 and no
// dilation (every zoo model) dx is a forward depthwise correlation of dy, zero-upsampled by the stride,
// with the filter rotated by 180 degrees: the backend's XNNPACK depthwise kernel does it several times
// faster than any loop here. Other cases scatter each output gradient back through the filter taps,
// channels innermost, in plain TypeScript over the heap.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { convInfoNHWC, type ConvInfo } from './conv_geometry.js';
import { allocate, asWasmBackend, dispose, heapF32, offsetF32 } from './wasm_heap.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

interface Attrs {
  strides: number | [number, number];
  dilations: number | [number, number];
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

function depthwiseBackpropInput(args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: unknown; attrs: Attrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { dy, filter } = args.inputs;
  const { strides, dilations, pad, dimRoundingMode, inputShape } = args.attrs;
  const info = convInfoNHWC('DepthwiseConv2dNativeBackpropInput', inputShape, filter.shape, strides, dilations, pad, dimRoundingMode, true);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW, dilationHeight: DH, dilationWidth: DW } = info;
  const M = filter.shape[3];
  const CM = C * M;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  if (M === 1 && DH === 1 && DW === 1) {
    const viaForward = backpropViaForwardCorrelation(backend, dy, filter, info);
    if (viaForward !== undefined) return viaForward;
  }

  const dx = allocate(backend, info.inShape, true);
  const heap = heapF32(backend);
  const dxStart = offsetF32(backend, dx);
  const dyStart = offsetF32(backend, dy);
  const wStart = offsetF32(backend, filter);

  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - top;
      for (let ky = 0; ky < KH; ky++) {
        const iy = iy0 + ky * DH;
        if (iy < 0 || iy >= H) continue;
        const dxRow = dxStart + (n * H + iy) * W * C;
        const dyRow = dyStart + (n * OH + oy) * OW * CM;
        for (let kx = 0; kx < KW; kx++) {
          const tap = wStart + (ky * KW + kx) * CM;
          const kxOffset = kx * DW - left;
          const oxMin = Math.max(0, Math.ceil(-kxOffset / SW));
          const oxMax = Math.min(OW, Math.floor((W - 1 - kxOffset) / SW) + 1);
          if (M === 1) {
            for (let ox = oxMin; ox < oxMax; ox++) {
              const xi = dxRow + (ox * SW + kxOffset) * C;
              const di = dyRow + ox * C;
              for (let c = 0; c < C; c++) heap[xi + c] += heap[di + c] * heap[tap + c];
            }
          } else {
            for (let ox = oxMin; ox < oxMax; ox++) {
              const xi = dxRow + (ox * SW + kxOffset) * C;
              const di = dyRow + ox * CM;
              for (let c = 0; c < C; c++) {
                const base = c * M;
                let sum = 0;
                for (let m = 0; m < M; m++) sum += heap[di + base + m] * heap[tap + base + m];
                heap[xi + c] += sum;
              }
            }
          }
        }
      }
    }
  }
  return dx;
}

let wasmDepthwise: KernelFunc | undefined;

/**
 * dx[i] = Σ_k dyUp[i - (K - 1 - padBefore) + k] * W[K - 1 - k] per axis, where dyUp holds dy[o] at o * stride
 * and zeros between: a stride-1 depthwise correlation with explicit padding. Undefined when that
 * padding would be negative (explicit pads wider than the filter), which the loop path handles.
 */
function backpropViaForwardCorrelation(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, info: ConvInfo): TensorInfo | undefined {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
  const upH = (OH - 1) * SH + 1;
  const upW = (OW - 1) * SW + 1;
  const padTop = KH - 1 - info.padInfo.top;
  const padLeft = KW - 1 - info.padInfo.left;
  const padBottom = H - 1 + KH - 1 - padTop - (upH - 1);
  const padRight = W - 1 + KW - 1 - padLeft - (upW - 1);
  if (Math.min(padTop, padLeft, padBottom, padRight) < 0) return undefined;
  if (wasmDepthwise === undefined) {
    const config = tf.getKernel('DepthwiseConv2dNative', 'wasm');
    if (config === undefined) return undefined;
    wasmDepthwise = config.kernelFunc;
  }

  // The filter rotated by 180 degrees: a fresh tensor, as XNNPACK caches the packed filter by tensor id.
  const rotated = allocate(backend, [KH, KW, C, 1]);
  let heap = heapF32(backend);
  const w = offsetF32(backend, filter);
  const r = offsetF32(backend, rotated);
  for (let ky = 0; ky < KH; ky++) {
    for (let kx = 0; kx < KW; kx++) {
      heap.copyWithin(r + ((KH - 1 - ky) * KW + (KW - 1 - kx)) * C, w + (ky * KW + kx) * C, w + (ky * KW + kx + 1) * C);
    }
  }

  let source = dy;
  if (SH !== 1 || SW !== 1) {
    source = allocate(backend, [N, upH, upW, C], true);
    heap = heapF32(backend);
    const d = offsetF32(backend, dy);
    const u = offsetF32(backend, source);
    for (let n = 0; n < N; n++) {
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          const from = d + ((n * OH + oy) * OW + ox) * C;
          heap.copyWithin(u + ((n * upH + oy * SH) * upW + ox * SW) * C, from, from + C);
        }
      }
    }
  }
  const pad = [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]];
  const dx = wasmDepthwise({
    inputs: { x: source, filter: rotated },
    backend,
    attrs: { strides: [1, 1], pad, dilations: [1, 1], dataFormat: 'NHWC' },
  }) as TensorInfo;
  dispose(backend, rotated);
  if (source !== dy) dispose(backend, source);
  return dx;
}

export const depthwiseConv2dBackpropInputConfig: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as KernelFunc,
};
