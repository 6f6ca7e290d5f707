// Weights as the compiled step sees them. tlkit keeps every weight (and optimizer slot) between steps
// in the ONNX layout the graph uses (conv kernels OIHW, depthwise kernels as grouped-conv weights), so
// a step feeds them without any transpose; Keras's layout comes back only in syncWeightsToModel.
import type { tfl } from '../../tfjs/tf.js';

/** 'plain': same array as Keras. 'oihw': Keras HWIO kernel. 'grouped': Keras depthwise [kh,kw,C,M] kernel. */
export type ParamLayout = 'plain' | 'oihw' | 'grouped';

export interface ParamSlot {
  variable: tfl.LayerVariable;
  /** Graph input name. */
  input: string;
  layout: ParamLayout;
  /** Shape in the graph (ONNX layout). */
  shape: number[];
  kerasShape: number[];
  /** Receives a gradient and an optimizer update. */
  trainable: boolean;
  /** Graph value of this weight's gradient (sum over every call that uses it), once backward ran. */
  grad?: string;
  /** Graph value of the updated state (BatchNorm moving statistics), written back each step. */
  stateOutput?: string;
}

/**
 * Transposes a dense row-major array of `shape` by `perm`. Axes of size 1 are dropped and output axes
 * that stay adjacent in the input merged; when the input's innermost axis does not end up innermost the
 * copy goes in square tiles (a ResNet50's kernels, HWIO -> OIHW, in ~0.1 s where an element-wise
 * odometer took ~1.2 s). Only the order of the copies changes: the values are those of a plain gather.
 */
export function permute(data: Float32Array, shape: number[], perm: number[], into?: Float32Array): Float32Array {
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  let stride = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = stride;
    stride *= shape[i];
  }
  if (into && into.length !== data.length) throw new Error(`internal: permute into ${into.length} values, not ${data.length}`);
  const out = into ?? new Float32Array(data.length);
  if (out.length === 0) return out;
  // Output axes (as size and input stride), without size-1 axes, adjacent ones merged.
  const dims: number[] = [];
  const steps: number[] = [];
  for (const p of perm) {
    if (shape[p] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && steps[last] === inStrides[p] * shape[p]) {
      dims[last] *= shape[p];
      steps[last] = inStrides[p];
    } else {
      dims.push(shape[p]);
      steps.push(inStrides[p]);
    }
  }
  const r = dims.length;
  if (r <= 1) {
    out.set(data);
    return out;
  }
  const outStrides = new Array<number>(r);
  stride = 1;
  for (let i = r - 1; i >= 0; i--) {
    outStrides[i] = stride;
    stride *= dims[i];
  }
  const inner = r - 1;
  // The output axis that reads the input contiguously (there is one: the input's innermost axis of size > 1).
  const a = steps.indexOf(1);
  const outer = [...Array(r).keys()].filter((d) => d !== inner && d !== a);
  const total = outer.reduce((n, d) => n * dims[d], 1);
  const srcBase = new Float64Array(total);
  const dstBase = new Float64Array(total);
  const index = new Array<number>(outer.length).fill(0);
  for (let k = 0; k < total; k++) {
    outer.forEach((d, j) => {
      srcBase[k] += index[j] * steps[d];
      dstBase[k] += index[j] * outStrides[d];
    });
    for (let j = outer.length - 1; j >= 0; j--) {
      if (++index[j] < dims[outer[j]]) break;
      index[j] = 0;
    }
  }
  const nIn = dims[inner];
  if (a === inner) {
    // Contiguous on both sides: runs.
    for (let k = 0; k < total; k++) out.set(data.subarray(srcBase[k], srcBase[k] + nIn), dstBase[k]);
    return out;
  }
  const sIn = steps[inner];
  const nA = dims[a];
  const oA = outStrides[a];
  // Tiles of TILE values along `a` outermost: the writes stay within TILE output rows (and their memory
  // pages) while the rest of the input streams by.
  for (let a0 = 0; a0 < nA; a0 += TILE) {
    const a1 = Math.min(a0 + TILE, nA);
    for (let k = 0; k < total; k++) {
      const src = srcBase[k];
      const dst = dstBase[k];
      for (let i0 = 0; i0 < nIn; i0 += TILE) {
        const i1 = Math.min(i0 + TILE, nIn);
        for (let ia = a0; ia < a1; ia++) {
          let from = src + ia + i0 * sIn;
          const base = dst + ia * oA;
          for (let ii = i0; ii < i1; ii++, from += sIn) out[base + ii] = data[from];
        }
      }
    }
  }
  return out;
}

const TILE = 32;

export function onnxShape(kerasShape: number[], layout: ParamLayout): number[] {
  if (layout === 'oihw') {
    const [kh, kw, cin, cout] = kerasShape;
    return [cout, cin, kh, kw];
  }
  if (layout === 'grouped') {
    const [kh, kw, c, m] = kerasShape;
    return [c * m, 1, kh, kw];
  }
  return kerasShape.slice();
}

/** `data` in the graph's layout: a new array, or written into `into` (same length) and returned. */
export function kerasToOnnx(data: Float32Array, kerasShape: number[], layout: ParamLayout, into?: Float32Array): Float32Array {
  if (layout === 'oihw') return permute(data, kerasShape, [3, 2, 0, 1], into);
  // [kh,kw,C,M] -> [C,M,kh,kw], read as [C*M,1,kh,kw]: channel-major outputs, as TF orders them.
  if (layout === 'grouped') return permute(data, kerasShape, [2, 3, 0, 1], into);
  if (!into) return data.slice();
  if (into.length !== data.length) throw new Error(`internal: ${data.length} values into ${into.length}`);
  into.set(data);
  return into;
}

export function onnxToKeras(data: Float32Array, kerasShape: number[], layout: ParamLayout): Float32Array {
  if (layout === 'oihw') {
    const [kh, kw, cin, cout] = kerasShape;
    return permute(data, [cout, cin, kh, kw], [2, 3, 1, 0]);
  }
  if (layout === 'grouped') {
    const [kh, kw, c, m] = kerasShape;
    return permute(data, [c, m, kh, kw], [2, 3, 0, 1]);
  }
  return data.slice();
}
