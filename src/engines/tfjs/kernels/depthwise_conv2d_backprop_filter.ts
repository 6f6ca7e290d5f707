// DepthwiseConv2dNativeBackpropFilter for wasm (the backend ships none): one pass over NHWC in plain
// TypeScript, channels innermost so every read is sequential. Sums go to a Float64Array because a
// filter tap sums batch * outHeight * outWidth products (200k for MobileNet at 224, batch 16).
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convInfoNHWC } from './conv_geometry.js';
import { allocate, asWasmBackend, heapF32, offsetF32 } from './wasm_heap.js';

interface Attrs {
  strides: number | [number, number];
  dilations: number | [number, number];
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

let scratch = new Float64Array(0);

function depthwiseBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: unknown; attrs: Attrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, dy } = args.inputs;
  const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs;
  const info = convInfoNHWC('DepthwiseConv2dNativeBackpropFilter', x.shape, filterShape, strides, dilations, pad, dimRoundingMode, true);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW, dilationHeight: DH, dilationWidth: DW } = info;
  const M = filterShape[3];
  const CM = C * M;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const size = KH * KW * CM;
  if (scratch.length < size) scratch = new Float64Array(size);
  const acc = scratch;
  acc.fill(0, 0, size);

  const out = allocate(backend, filterShape);
  const heap = heapF32(backend);
  const xStart = offsetF32(backend, x);
  const dyStart = offsetF32(backend, dy);

  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - top;
      for (let ky = 0; ky < KH; ky++) {
        const iy = iy0 + ky * DH;
        if (iy < 0 || iy >= H) continue;
        const xRow = xStart + (n * H + iy) * W * C;
        const dyRow = dyStart + (n * OH + oy) * OW * CM;
        if (M === 1 && KW === 3 && DW === 1) {
          accumulateRowOfThreeTaps(heap, acc, xRow, dyRow, ky * KW * C, C, W, OW, SW, left);
          continue;
        }
        for (let kx = 0; kx < KW; kx++) {
          const tap = (ky * KW + kx) * CM;
          const kxOffset = kx * DW - left;
          // Output columns whose input column ox * SW + kxOffset lies inside the image.
          const oxMin = Math.max(0, Math.ceil(-kxOffset / SW));
          const oxMax = Math.min(OW, Math.floor((W - 1 - kxOffset) / SW) + 1);
          if (M === 1) {
            for (let ox = oxMin; ox < oxMax; ox++) {
              const xi = xRow + (ox * SW + kxOffset) * C;
              const di = dyRow + ox * C;
              for (let c = 0; c < C; c++) acc[tap + c] += heap[xi + c] * heap[di + c];
            }
          } else {
            for (let ox = oxMin; ox < oxMax; ox++) {
              const xi = xRow + (ox * SW + kxOffset) * C;
              const di = dyRow + ox * CM;
              for (let c = 0; c < C; c++) {
                const xv = heap[xi + c];
                const base = c * M;
                for (let m = 0; m < M; m++) acc[tap + base + m] += xv * heap[di + base + m];
              }
            }
          }
        }
      }
    }
  }
  const o = offsetF32(backend, out);
  for (let i = 0; i < size; i++) heap[o + i] = acc[i];
  return out;
}

/**
 * The three taps of one filter row (3-wide filter, multiplier 1, no dilation) over one output row:
 * where all three input columns are inside the image, each dy value is loaded once for three products
 * (the common case, a third of the loads of the general loop); the border columns take the general path.
 */
function accumulateRowOfThreeTaps(
  heap: Float32Array,
  acc: Float64Array,
  xRow: number,
  dyRow: number,
  tap0: number,
  C: number,
  W: number,
  OW: number,
  SW: number,
  left: number,
): void {
  const tap1 = tap0 + C;
  const tap2 = tap1 + C;
  // Interior: ox * SW - left >= 0 and ox * SW - left + 2 <= W - 1.
  const inMin = Math.max(0, Math.ceil(left / SW));
  const inMax = Math.max(inMin, Math.min(OW, Math.floor((W - 3 + left) / SW) + 1));
  for (let ox = inMin; ox < inMax; ox++) {
    const x0 = xRow + (ox * SW - left) * C;
    const x1 = x0 + C;
    const x2 = x1 + C;
    const d = dyRow + ox * C;
    for (let c = 0; c < C; c++) {
      const g = heap[d + c];
      acc[tap0 + c] += heap[x0 + c] * g;
      acc[tap1 + c] += heap[x1 + c] * g;
      acc[tap2 + c] += heap[x2 + c] * g;
    }
  }
  for (let ox = 0; ox < OW; ox++) {
    if (ox >= inMin && ox < inMax) continue;
    const d = dyRow + ox * C;
    for (let kx = 0; kx < 3; kx++) {
      const ix = ox * SW - left + kx;
      if (ix < 0 || ix >= W) continue;
      const xi = xRow + ix * C;
      const tap = tap0 + kx * C;
      for (let c = 0; c < C; c++) acc[tap + c] += heap[xi + c] * heap[d + c];
    }
  }
}

export const depthwiseConv2dBackpropFilterConfig: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as KernelFunc,
};
