// Spatial bookkeeping shared by convolutions and pools, in export and in training: Keras kwargs ->
// TF's explicit pads for 'same'/'valid', written out so the result never depends on a runtime's auto_pad.
import { UnsupportedLayer, type Config } from './table.js';

export interface Geometry {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** [top, left, bottom, right], ONNX order. */
  pads: [number, number, number, number];
  inSize: [number, number];
  outSize: [number, number];
}

/** Attributes of a Conv/Pool node (without `group`). */
export interface SpatialAttributes {
  kernel_shape: number[];
  strides: number[];
  dilations?: number[];
  pads?: number[];
  auto_pad?: string;
}

export function pair(value: number | number[] | undefined | null, fallback: number): [number, number] {
  if (value === undefined || value === null) return [fallback, fallback];
  if (typeof value === 'number') return [value, value];
  if (value.length === 1) return [value[0], value[0]];
  return [value[0], value[1]];
}

export function requireChannelsLast(config: Config): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
    throw new UnsupportedLayer(`dataFormat=${JSON.stringify(config.dataFormat)} (only 'channelsLast' is supported)`);
  }
}

function checkPadding(padding: string): void {
  if (padding !== 'valid' && padding !== 'same') throw new UnsupportedLayer(`padding=${JSON.stringify(padding)} (accepted: 'valid', 'same')`);
}

/**
 * TF's SAME pads (total) = max((ceil(in/s)-1)*s + k_eff - in, 0), the odd pixel at the end. `inShape` is
 * the Keras NHWC shape, its height and width known. `explicitPads` ([top, left, bottom, right]) is a
 * ZeroPadding2D folded into a 'valid' convolution.
 */
export function geometry(
  inShape: (number | null)[],
  kernel: [number, number],
  strides: [number, number],
  padding: string,
  options: { dilations?: [number, number]; explicitPads?: [number, number, number, number] } = {},
): Geometry {
  checkPadding(padding);
  const h = inShape[1];
  const w = inShape[2];
  if (h === null || w === null || h === undefined || w === undefined) throw new UnsupportedLayer('unknown input height/width (build the model with a fixed inputShape)');
  const dilations = options.dilations ?? [1, 1];
  const inSize: [number, number] = [h, w];
  const effective = [0, 1].map((a) => (kernel[a] - 1) * dilations[a] + 1);
  const explicit = options.explicitPads;
  if (explicit) {
    if (padding !== 'valid') throw new Error(`internal: folded padding needs padding 'valid', got ${padding}`);
    const outSize = [0, 1].map((a) => Math.floor((inSize[a] + explicit[a] + explicit[a + 2] - effective[a]) / strides[a]) + 1) as [number, number];
    return { kernel, strides, dilations, pads: [...explicit], inSize, outSize };
  }
  const begin = [0, 0];
  const end = [0, 0];
  const outSize: [number, number] = [0, 0];
  for (let a = 0; a < 2; a++) {
    if (padding === 'same') {
      outSize[a] = Math.ceil(inSize[a] / strides[a]);
      const total = Math.max((outSize[a] - 1) * strides[a] + effective[a] - inSize[a], 0);
      begin[a] = Math.floor(total / 2);
      end[a] = total - begin[a];
    } else {
      outSize[a] = Math.floor((inSize[a] - effective[a]) / strides[a]) + 1;
    }
  }
  return { kernel, strides, dilations, pads: [begin[0], begin[1], end[0], end[1]], inSize, outSize };
}

/**
 * A Conv/Pool node's spatial attributes. 'valid' needs no input size; 'same' with an unknown height or
 * width (an export with a free spatial dim) is ONNX SAME_UPPER, TF's SAME rule evaluated at run time.
 */
export function spatialAttributes(
  inShape: (number | null)[],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  padding: string,
  explicitPads?: [number, number, number, number],
): SpatialAttributes {
  checkPadding(padding);
  const attrs: SpatialAttributes = { kernel_shape: kernel, strides };
  if (dilations[0] !== 1 || dilations[1] !== 1) attrs.dilations = dilations;
  if (explicitPads) return { ...attrs, pads: [...explicitPads] };
  if (padding === 'valid') return { ...attrs, pads: [0, 0, 0, 0] };
  if (inShape[1] === null || inShape[2] === null) return { ...attrs, auto_pad: 'SAME_UPPER' };
  return { ...attrs, pads: geometry(inShape, kernel, strides, padding, { dilations }).pads };
}

export function isPointwise(g: Geometry): boolean {
  return g.kernel[0] === 1 && g.kernel[1] === 1 && g.pads.every((p) => p === 0);
}

/** Shape [C] placed at `axis` of a rank-`rank` tensor without its batch axis, for broadcasting. */
export function broadcastDims(rank: number, axis: number, channels: number): number[] {
  const dims = new Array<number>(rank - 1).fill(1);
  dims[axis - 1] = channels;
  // Trailing-axis parameters broadcast as [C] directly.
  return axis === rank - 1 ? [channels] : dims;
}

/** A single Keras axis kwarg (negative counts from the end), checked against the input's rank. */
export function normalizeAxis(axis: number | number[], rank: number): number {
  const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : NaN) : axis;
  if (!Number.isInteger(a)) throw new UnsupportedLayer(`axis=${JSON.stringify(axis)} (a single axis is supported)`);
  const normalized = a < 0 ? rank + a : a;
  if (normalized <= 0 || normalized >= rank) throw new UnsupportedLayer(`axis=${a} for a rank-${rank} input`);
  return normalized;
}
