// Keras's apply_transform on a flat HWC float image, the fused pass over the registered ops
// (registry.ts): one affine resample (the product of the affine ops' factors: rotation, shift, shear,
// zoom), then the pixel ops in Keras's order (channel shift, horizontal flip, vertical flip, brightness),
// as many of them as it can done by the resample while it writes.
import { mulM3, recentredAffine, resampleAffine, type AffineMatrix, type AffineParams, type FillMode, type M3, type ResampleOptions } from './affine.js';
import { AFFINE_OPS, AUGMENTATION_OPS, PIXEL_OPS } from './registry.js';

/** Keras's transform parameters in camelCase. */
export interface TransformParams extends AffineParams {
  flipHorizontal?: boolean;
  flipVertical?: boolean;
  /** Added to every channel, clipped to the image's range; null = none. */
  channelShiftIntensity?: number | null;
  /** PIL brightness factor; null = none. */
  brightness?: number | null;
}

export interface TransformSettings {
  fillMode: FillMode;
  cval: number;
  interpolationOrder: 0 | 1;
}

/**
 * Applies `params` to `data` (height x width x channels). May return a new array (after the affine
 * resample, into `scratch` when given) or float `data` itself modified in place. Decoded bytes
 * (Uint8Array) are read as they are, never modified: the result is then `scratch` (or a new array).
 */
export function applyTransformToArray(
  data: Float32Array | Uint8Array,
  height: number,
  width: number,
  channels: number,
  params: TransformParams,
  settings: TransformSettings,
  scratch?: Float32Array,
): Float32Array {
  const matrix = affineMatrix(params, height, width);
  const pending = PIXEL_OPS.filter((op) => op.changes(params));
  let x: Float32Array;
  if (matrix) {
    // Keras's order is the resample, then the pixel ops. The leading pixel ops that the resample can do
    // as it writes (flips: where it writes; brightness: a table on what it writes, when every value is
    // known to be in [0, 255]) are done there: one pass. The first one it cannot do stops the fusion.
    const inByteRange = data instanceof Uint8Array && (settings.fillMode !== 'constant' || (settings.cval >= 0 && settings.cval <= 255));
    const fused: Partial<ResampleOptions> = {};
    while (pending.length > 0) {
      const work = pending[0].pixel!.fuse?.(params, { inByteRange, channels });
      if (!work) break;
      Object.assign(fused, work);
      pending.shift();
    }
    x = resampleAffine(data, height, width, channels, matrix, { fillMode: settings.fillMode, cval: settings.cval, order: settings.interpolationOrder, ...fused }, scratch);
  } else if (data instanceof Uint8Array) {
    x = scratch && scratch.length === data.length ? scratch : new Float32Array(data.length);
    x.set(data);
  } else {
    x = data;
  }
  for (const op of pending) op.pixel!.kernel(x, height, width, channels, params);
  return x;
}

/**
 * Keras's transform matrix: the affine ops' factors (rotation · shift · shear · zoom, in (x, y)) recentred
 * on the image centre, in (row, col) order for the resample. null when the parameters are the identity
 * (Keras then skips the resample).
 */
export function affineMatrix(params: TransformParams, height: number, width: number): AffineMatrix | null {
  let m: M3 | null = null;
  for (const op of AFFINE_OPS) {
    const factor = op.affine!(params);
    if (factor) m = m ? mulM3(m, factor) : factor;
  }
  return recentredAffine(m, height, width);
}

/** True when applying `params` changes nothing. */
export function isIdentityTransform(p: TransformParams): boolean {
  return !AUGMENTATION_OPS.some((op) => op.changes(p));
}
