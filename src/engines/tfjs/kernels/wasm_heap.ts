// Direct access to the wasm backend's heap for the training kernels.
// A kernel reads its inputs and writes its outputs in place on the heap (no copy to JS), and hands the
// heavy products to the backend's own XNNPACK matmul. Rules learned the hard way:
// - The heap can grow on any allocation, which detaches every view taken before it: take `heapF32()`
//   again after each `makeOutput` / matmul.
// - Tensor views created with `viewTensor` share memory with a parent tensor; release them with
//   `releaseView` (never `disposeData`, which would free the middle of the parent's block).
// - The wasm matmul caches its XNNPACK operator by the id of `b` and packs `b` when it creates it,
//   so every `b` must be a fresh tensor id whose contents never change afterwards.
import type { DataType, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

/** The parts of the Emscripten module the kernels use; typed here because the backend's type hides them. */
interface WasmModuleInternals {
  HEAPF32: Float32Array;
  HEAPU8: Uint8Array;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}

interface TensorRecord {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: DataType;
  refCount: number;
}

function moduleOf(backend: BackendWasm): WasmModuleInternals {
  return backend.wasm as unknown as WasmModuleInternals;
}

function recordOf(backend: BackendWasm, t: TensorInfo): TensorRecord {
  const record = backend.dataIdMap.get(t.dataId) as TensorRecord | undefined;
  if (record === undefined) throw new Error('tensor data is not on the wasm backend');
  return record;
}

/** A Float32Array over the whole heap, valid until the next allocation. */
export function heapF32(backend: BackendWasm): Float32Array {
  const module = moduleOf(backend);
  // HEAPF32 is refreshed by Emscripten when memory grows; build one if this build does not expose it.
  if (module.HEAPF32 !== undefined && module.HEAPF32.buffer === module.HEAPU8.buffer) return module.HEAPF32;
  return new Float32Array(module.HEAPU8.buffer);
}

/** Index of the tensor's first float in `heapF32(backend)`. */
export function offsetF32(backend: BackendWasm, t: TensorInfo): number {
  return recordOf(backend, t).memoryOffset >>> 2;
}

/** A new float32 tensor on the heap. Its contents are undefined unless `zero` is set. */
export function allocate(backend: BackendWasm, shape: number[], zero = false): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  if (zero) {
    const start = offsetF32(backend, out);
    heapF32(backend).fill(0, start, start + tf.util.sizeFromShape(shape));
  }
  return out;
}

/**
 * A tensor id registered over floats [startF32, startF32 + size(shape)) of an existing tensor, so that
 * a wasm kernel can read a slice without a copy. Release it with `releaseView`.
 */
export function viewTensor(backend: BackendWasm, parent: TensorInfo, startF32: number, shape: number[]): TensorInfo {
  const record = recordOf(backend, parent);
  const size = tf.util.sizeFromShape(shape);
  const parentSize = tf.util.sizeFromShape(parent.shape);
  if (startF32 < 0 || startF32 + size > parentSize) throw new Error('view outside its parent tensor');
  const memoryOffset = record.memoryOffset + startF32 * 4;
  // makeOutput with a memoryOffset registers existing memory under a new id without allocating.
  const view = backend.makeOutput(shape, 'float32', memoryOffset);
  return view;
}

/** Forgets a view made by `viewTensor` (and the matmul operator cached on it) without freeing memory. */
export function releaseView(backend: BackendWasm, view: TensorInfo): void {
  const record = recordOf(backend, view);
  moduleOf(backend).tfjs.disposeData(record.id);
  backend.dataIdMap.delete(view.dataId);
}

export function dispose(backend: BackendWasm, t: TensorInfo): void {
  backend.disposeData(t.dataId);
}

let wasmMatMul: KernelFunc | undefined;

/**
 * out[M, N] = a[M, K] @ b[K, N] on the backend's XNNPACK path (the only fast one: it requires
 * no transposes and batch 1). `b` is packed once per call: pass a fresh tensor or view.
 */
export function matMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, m: number, k: number, n: number): TensorInfo {
  if (wasmMatMul === undefined) {
    const config = tf.getKernel('BatchMatMul', 'wasm');
    if (config === undefined) throw new Error("the wasm backend has no 'BatchMatMul' kernel");
    wasmMatMul = config.kernelFunc;
  }
  const a3: TensorInfo = { dataId: a.dataId, shape: [1, m, k], dtype: 'float32' };
  const b3: TensorInfo = { dataId: b.dataId, shape: [1, k, n], dtype: 'float32' };
  return wasmMatMul({ inputs: { a: a3, b: b3 }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
}

/** dst[c, r] = src[r, c] for a rows x cols block, both in the heap array `heap`. Cache-blocked. */
export function transposeInto(
  heap: Float32Array,
  src: number,
  dst: number,
  rows: number,
  cols: number,
): void {
  const block = 32;
  for (let r0 = 0; r0 < rows; r0 += block) {
    const r1 = Math.min(rows, r0 + block);
    for (let c0 = 0; c0 < cols; c0 += block) {
      const c1 = Math.min(cols, c0 + block);
      for (let r = r0; r < r1; r++) {
        const s = src + r * cols;
        for (let c = c0; c < c1; c++) heap[dst + c * rows + r] = heap[s + c];
      }
    }
  }
}

export function asWasmBackend(backend: unknown): BackendWasm {
  return backend as BackendWasm;
}
