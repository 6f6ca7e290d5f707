// Spatial bookkeeping shared by convolution and pooling rules: TF's explicit pads for 'same'/'valid'.
import { UnsupportedLayer } from './rules.js';

export interface Geometry {
  kernel: [number, number];
  strides: [number, number];
  /** [top, left, bottom, right], ONNX order. */
  pads: [number, number, number, number];
  inSize: [number, number];
  outSize: [number, number];
}

export function pair(value: number | number[] | undefined | null, fallback: number): [number, number] {
  if (value === undefined || value === null) return [fallback, fallback];
  if (typeof value === 'number') return [value, value];
  if (value.length === 1) return [value[0], value[0]];
  return [value[0], value[1]];
}

/**
 * TF's SAME puts the odd padding pixel at the end. `inShape` is the Keras NHWC shape. `explicitPads`
 * ([top, left, bottom, right]) is a ZeroPadding2D folded into a 'valid' convolution.
 */
export function geometry(inShape: (number | null)[], kernel: [number, number], strides: [number, number], padding: string, explicitPads?: [number, number, number, number]): Geometry {
  const h = inShape[1];
  const w = inShape[2];
  if (h === null || w === null || h === undefined || w === undefined) throw new UnsupportedLayer('unknown input height/width (build the model with a fixed inputShape)');
  const inSize: [number, number] = [h, w];
  const begin = [0, 0];
  const end = [0, 0];
  const outSize: [number, number] = [0, 0];
  if (explicitPads) {
    if (padding !== 'valid') throw new Error(`internal: folded padding needs padding 'valid', got ${padding}`);
    const out: [number, number] = [0, 1].map((a) => Math.floor((inSize[a] + explicitPads[a] + explicitPads[a + 2] - kernel[a]) / strides[a]) + 1) as [number, number];
    return { kernel, strides, pads: [...explicitPads], inSize, outSize: out };
  }
  for (let a = 0; a < 2; a++) {
    if (padding === 'same') {
      outSize[a] = Math.ceil(inSize[a] / strides[a]);
      const total = Math.max((outSize[a] - 1) * strides[a] + kernel[a] - inSize[a], 0);
      begin[a] = Math.floor(total / 2);
      end[a] = total - begin[a];
    } else if (padding === 'valid') {
      outSize[a] = Math.floor((inSize[a] - kernel[a]) / strides[a]) + 1;
    } else {
      throw new UnsupportedLayer(`padding=${JSON.stringify(padding)} (accepted: 'valid', 'same')`);
    }
  }
  return { kernel, strides, pads: [begin[0], begin[1], end[0], end[1]], inSize, outSize };
}

export function convAttributes(g: Geometry, group = 1): Record<string, number | number[]> {
  return { kernel_shape: g.kernel, strides: g.strides, pads: g.pads, group };
}

export function isPointwise(g: Geometry): boolean {
  return g.kernel[0] === 1 && g.kernel[1] === 1 && g.pads.every((p) => p === 0);
}
