// Identity for wasm that shares the input's memory (as the cpu backend's does) instead of copying it.
// tfjs clones every tensor a custom gradient saves (fused conv2d, dense, ...), and on wasm each clone
// was a full copy: 1,500 copies and a few hundred MB per MobileNetV2 training step. Tensors are
// immutable and no wasm kernel writes into its inputs, so sharing is safe; the refcount keeps the
// memory alive until the last sharer is disposed.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { asWasmBackend } from './wasm_heap.js';

function sharedIdentity(args: { inputs: { x: TensorInfo }; backend: unknown }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x } = args.inputs;
  if (x.dtype === 'string') throw new Error('sharedIdentity: string tensors use the backend kernel');
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Built around the backend's own Identity so that string tensors keep its path. */
export function identityConfig(original: KernelConfig | undefined): KernelConfig {
  const kernelFunc = ((args: { inputs: { x: TensorInfo }; backend: unknown }) =>
    args.inputs.x.dtype === 'string' && original !== undefined
      ? original.kernelFunc(args as never)
      : sharedIdentity(args)) as unknown as KernelFunc;
  return { kernelName: 'Identity', backendName: 'wasm', kernelFunc };
}
