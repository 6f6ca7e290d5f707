// DepthwiseConv2dNativeBackpropInput for wasm (the backend ships none): scatter each output gradient
// back through the filter taps, channels innermost, in plain TypeScript over the heap.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convInfoNHWC } from './conv_geometry.js';
import { allocate, asWasmBackend, heapF32, offsetF32 } from './wasm_heap.js';

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

export const depthwiseConv2dBackpropInputConfig: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as KernelFunc,
};
