// Conv2DBackpropFilter for wasm (the backend ships none): dW [K, F] = im2col(x)^T [K, rows] @ dy [rows, F],
// K = KH * KW * Cin, accumulated over blocks of output rows small enough for the caches. The product
// runs on XNNPACK's matmul (its one fast path: no transposes, batch 1); per block, the narrower of dy
// and im2col(x) is the right-hand side, read in place through a view, and the other is transposed into
// a small buffer. For a 1x1 stride-1 convolution im2col(x) is x itself. Blocking halved the time of
// the project convolutions of MobileNetV2 against one product over the whole batch.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convInfoNHWC, isPointwise, kernelLimits } from './conv_geometry.js';
import { im2colRows } from './im2col.js';
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
  const { batchSize: N, inChannels: C, outChannels: F, outHeight: OH, outWidth: OW } = info;
  const K = info.filterHeight * info.filterWidth * C;
  const totalRows = N * OH * OW;
  const pointwise = isPointwise(info);
  // Rows per block: the transposed block stays small enough for the caches, and never below 64 rows
  // so that the per-matmul overhead stays negligible.
  const blockRows = Math.min(totalRows, Math.max(64, Math.floor(kernelLimits.blockFloats / K)));

  const out = allocate(backend, filterShape, true);
  // The matmul's right-hand side is packed by XNNPACK and streamed once per few rows of the left-hand
  // side, so the narrower operand goes on the right: dy when F <= K, else the im2col rows.
  const dyOnRight = F <= K;
  const left = allocate(backend, dyOnRight ? [K, blockRows] : [F, blockRows]);
  const rowBuffer = pointwise ? undefined : allocate(backend, [blockRows, K]);
  for (let row0 = 0; row0 < totalRows; row0 += blockRows) {
    const rows = Math.min(blockRows, totalRows - row0);
    let heap = heapF32(backend);
    const colsStart = pointwise ? offsetF32(backend, x) + row0 * C : offsetF32(backend, rowBuffer!);
    if (!pointwise) im2colRows(heap, offsetF32(backend, x), colsStart, info, row0, rows);
    let product: TensorInfo;
    if (dyOnRight) {
      transposeInto(heap, colsStart, offsetF32(backend, left), rows, K);
      const dyRows = viewTensor(backend, dy, row0 * F, [rows, F]);
      product = matMul(backend, left, dyRows, K, rows, F); // [K, F]
      releaseView(backend, dyRows);
    } else {
      transposeInto(heap, offsetF32(backend, dy) + row0 * F, offsetF32(backend, left), rows, F);
      // A fresh view per block: XNNPACK caches the packed right-hand side by tensor id.
      const cols = pointwise ? viewTensor(backend, x, row0 * C, [rows, K]) : viewTensor(backend, rowBuffer!, 0, [rows, K]);
      product = matMul(backend, left, cols, F, rows, K); // [F, K]
      releaseView(backend, cols);
    }
    heap = heapF32(backend);
    const p = offsetF32(backend, product);
    const o = offsetF32(backend, out);
    if (dyOnRight) {
      const size = K * F;
      for (let i = 0; i < size; i++) heap[o + i] += heap[p + i];
    } else {
      for (let k = 0; k < K; k++) {
        for (let f = 0; f < F; f++) heap[o + k * F + f] += heap[p + f * K + k];
      }
    }
    dispose(backend, product);
  }
  dispose(backend, left);
  if (rowBuffer !== undefined) dispose(backend, rowBuffer);
  return out;
}

export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter as unknown as KernelFunc,
};
