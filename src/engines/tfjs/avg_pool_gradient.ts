// The gradient of 2-D average pooling with 'same' padding, as TensorFlow computes it. tfjs 4.22's
// forward divides each window by the number of real (unpadded) pixels in it, like TF, but its gradient
// (AvgPoolGrad, on cpu and wasm alike) divides by the full window size, so pixels near the border get
// a gradient up to 2.25x too small for 3x3 windows (InceptionV3's branch_pool layers). This wraps
// tfjs's gradient: dy is first scaled by (window size / real pixels) per output position, which makes
// tfjs's division by the window size a division by the real count.
import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';

interface AvgPoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | { type: string };
}

const pairOf = (v: number | [number, number]): [number, number] => (Array.isArray(v) ? v : [v, v]);

/** Leading padding of one axis: TF's 'same' puts the smaller half first. */
function padBefore(pad: AvgPoolAttrs['pad'], size: number, outSize: number, stride: number, filter: number): number | undefined {
  if (pad === 'valid') return 0;
  if (pad === 'same') return Math.floor(Math.max((outSize - 1) * stride + filter - size, 0) / 2);
  if (typeof pad === 'number') return pad;
  return undefined; // explicit padding lists: left to tfjs
}

/** [1, Ho, Wo, 1] of (window size / real pixels in the window), or undefined where no window is cut. */
export function windowCorrection(inShape: [number, number], outShape: [number, number], attrs: AvgPoolAttrs): Float32Array | undefined {
  const [kh, kw] = pairOf(attrs.filterSize);
  const [sh, sw] = pairOf(attrs.strides);
  const top = padBefore(attrs.pad, inShape[0], outShape[0], sh, kh);
  const left = padBefore(attrs.pad, inShape[1], outShape[1], sw, kw);
  if (top === undefined || left === undefined) return undefined;
  const [ho, wo] = outShape;
  const scale = new Float32Array(ho * wo);
  let cut = false;
  for (let i = 0; i < ho; i++) {
    const r0 = i * sh - top;
    const rows = Math.min(r0 + kh, inShape[0]) - Math.max(r0, 0);
    for (let j = 0; j < wo; j++) {
      const c0 = j * sw - left;
      const cols = Math.min(c0 + kw, inShape[1]) - Math.max(c0, 0);
      scale[i * wo + j] = (kh * kw) / (rows * cols);
      if (rows * cols !== kh * kw) cut = true;
    }
  }
  return cut ? scale : undefined;
}

const INSTALLED = Symbol.for('tlkit.avgPoolSameGradient');

/** Replaces tfjs's AvgPool gradient by the corrected one, on every backend. Idempotent. */
export function installAvgPoolGradient(): void {
  const original = tf.getGradient('AvgPool') as (GradConfig & { [INSTALLED]?: boolean }) | undefined;
  if (!original || original[INSTALLED]) return;
  const corrected: GradConfig & { [INSTALLED]?: boolean } = {
    ...original,
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const grad = dy as Tensor;
      const x = saved[0];
      const inShape = x.shape.slice(-3, -1) as [number, number];
      const outShape = grad.shape.slice(-3, -1) as [number, number];
      const scale = windowCorrection(inShape, outShape, attrs as unknown as AvgPoolAttrs);
      if (!scale) return original.gradFunc(dy, saved, attrs);
      const scaled = tf.mul(grad, tf.tensor4d(scale, [1, outShape[0], outShape[1], 1]));
      return original.gradFunc(scaled, saved, attrs);
    },
  };
  corrected[INSTALLED] = true;
  tf.registerGradient(corrected);
}
