// Conv2DBackpropFilter for wasm (the backend ships none): dW = im2col(x)^T @ dy, computed as
// (dy^T @ im2col(x))^T so that the big operand is the matmul's packed right-hand side and the one
// fast XNNPACK path (no transposes) does the work. For a 1x1 stride-1 convolution im2col(x) is x
// itself, read in place through a view.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convInfoNHWC, imagesPerChunk, isPointwise, kernelLimits } from './conv_geometry.js';
import { im2col } from './im2col.js';
import { allocate, asWasmBackend, dispose, heapF32, matMul, offsetF32, releaseView, transposeInto, viewTensor } from './wasm_heap.js';

interface Attrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

function conv2dBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: unknown; attrs: Attrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, dy } = args.inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs;
  const info = convInfoNHWC('Conv2DBackpropFilter', x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, dataFormat);
  const { batchSize: N, inChannels: C, outChannels: F, outHeight: OH, outWidth: OW, inHeight: H, inWidth: W } = info;
  const K = info.filterHeight * info.filterWidth * C;
  const pixels = OH * OW;
  const pointwise = isPointwise(info);
  const chunk = imagesPerChunk(info, kernelLimits.maxColsFloats);

  const out = allocate(backend, filterShape, true);
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const n1 = Math.min(N, n0 + chunk);
    const rows = (n1 - n0) * pixels;
    const dyT = allocate(backend, [F, rows]);
    const cols = pointwise ? viewTensor(backend, x, n0 * H * W * C, [rows, K]) : allocate(backend, [rows, K]);
    let heap = heapF32(backend);
    transposeInto(heap, offsetF32(backend, dy) + n0 * pixels * F, offsetF32(backend, dyT), rows, F);
    if (!pointwise) im2col(heap, offsetF32(backend, x), offsetF32(backend, cols), info, n0, n1);

    const product = matMul(backend, dyT, cols, F, rows, K); // [F, K]
    heap = heapF32(backend);
    const p = offsetF32(backend, product);
    const o = offsetF32(backend, out);
    for (let k = 0; k < K; k++) {
      for (let f = 0; f < F; f++) heap[o + k * F + f] += heap[p + f * K + k];
    }
    dispose(backend, product);
    dispose(backend, dyT);
    if (pointwise) releaseView(backend, cols);
    else dispose(backend, cols);
  }
  return out;
}

export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter as unknown as KernelFunc,
};
