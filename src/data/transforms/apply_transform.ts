// Keras's apply_transform on a flat HWC float image: one affine resample (rotation, shift, shear,
// zoom), then channel shift, horizontal flip, vertical flip, brightness — Keras's order.
import { affineMatrix, resampleAffine, type AffineParams, type FillMode } from './affine.js';
import { applyBrightness } from './brightness.js';
import { applyChannelShift } from './channel_shift.js';
import { flipHorizontal, flipVertical } from './flip.js';

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
 * resample, into `scratch` when given) or `data` itself modified in place.
 */
export function applyTransformToArray(
  data: Float32Array,
  height: number,
  width: number,
  channels: number,
  params: TransformParams,
  settings: TransformSettings,
  scratch?: Float32Array,
): Float32Array {
  let x = data;
  const matrix = affineMatrix(params, height, width);
  if (matrix) x = resampleAffine(x, height, width, channels, matrix, { fillMode: settings.fillMode, cval: settings.cval, order: settings.interpolationOrder }, scratch);
  if (params.channelShiftIntensity !== undefined && params.channelShiftIntensity !== null) applyChannelShift(x, params.channelShiftIntensity);
  if (params.flipHorizontal) flipHorizontal(x, height, width, channels);
  if (params.flipVertical) flipVertical(x, height, width, channels);
  if (params.brightness !== undefined && params.brightness !== null) applyBrightness(x, params.brightness, channels);
  return x;
}

/** True when applying `params` changes nothing. */
export function isIdentityTransform(p: TransformParams): boolean {
  return (
    (p.theta ?? 0) === 0 &&
    (p.tx ?? 0) === 0 &&
    (p.ty ?? 0) === 0 &&
    (p.shear ?? 0) === 0 &&
    (p.zx ?? 1) === 1 &&
    (p.zy ?? 1) === 1 &&
    !p.flipHorizontal &&
    !p.flipVertical &&
    (p.channelShiftIntensity ?? null) === null &&
    (p.brightness ?? null) === null
  );
}
