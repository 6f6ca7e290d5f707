// Conv2DBackpropInput for wasm, replacing the backend's own (a scalar triple loop, no dilation):
// dx = col2im(dy @ W^T), with the product on the XNNPACK matmul path. For a 1x1 stride-1 convolution
// the product is dx itself.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convInfoNHWC, imagesPerChunk, isPointwise, kernelLimits } from './conv_geometry.js';
import { col2imAdd } from './im2col.js';
import { allocate, asWasmBackend, dispose, heapF32, matMul, offsetF32, releaseView, transposeInto, viewTensor } from './wasm_heap.js';

interface Attrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

function conv2dBackpropInput(args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: unknown; attrs: Attrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { dy, filter } = args.inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs;
  const info = convInfoNHWC('Conv2DBackpropInput', inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, dataFormat);
  const { batchSize: N, inChannels: C, outChannels: F, outHeight: OH, outWidth: OW } = info;
  const K = info.filterHeight * info.filterWidth * C;
  const pixels = OH * OW;

  // W is [K, F]; the matmul wants W^T [F, K] as its packed right-hand side (a fresh tensor: see wasm_heap).
  const filterT = allocate(backend, [F, K]);
  transposeInto(heapF32(backend), offsetF32(backend, filter), offsetF32(backend, filterT), K, F);

  if (isPointwise(info)) {
    const product = matMul(backend, dy, filterT, N * pixels, F, K);
    dispose(backend, filterT);
    return { dataId: product.dataId, shape: info.inShape, dtype: 'float32' };
  }

  const dx = allocate(backend, info.inShape, true);
  const chunk = imagesPerChunk(info, kernelLimits.maxColsFloats);
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const n1 = Math.min(N, n0 + chunk);
    const rows = (n1 - n0) * pixels;
    const dyRows = viewTensor(backend, dy, n0 * pixels * F, [rows, F]);
    const cols = matMul(backend, dyRows, filterT, rows, F, K);
    releaseView(backend, dyRows);
    col2imAdd(heapF32(backend), offsetF32(backend, cols), offsetF32(backend, dx), info, n0, n1);
    dispose(backend, cols);
  }
  dispose(backend, filterT);
  return dx;
}

export const conv2dBackpropInputConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2dBackpropInput as unknown as KernelFunc,
};
