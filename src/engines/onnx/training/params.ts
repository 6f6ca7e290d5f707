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

/** Transposes a dense row-major array of `shape` by `perm`. */
export function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  let stride = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = stride;
    stride *= shape[i];
  }
  const strideOfOut = perm.map((p) => inStrides[p]);
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += index[d] * strideOfOut[d];
    out[o] = data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < outShape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

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

export function kerasToOnnx(data: Float32Array, kerasShape: number[], layout: ParamLayout): Float32Array {
  if (layout === 'oihw') return permute(data, kerasShape, [3, 2, 0, 1]);
  // [kh,kw,C,M] -> [C,M,kh,kw], read as [C*M,1,kh,kw]: channel-major outputs, as TF orders them.
  if (layout === 'grouped') return permute(data, kerasShape, [2, 3, 0, 1]);
  return Float32Array.from(data);
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
  return Float32Array.from(data);
}
