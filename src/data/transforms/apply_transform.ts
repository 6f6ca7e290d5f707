// Keras's apply_transform on a flat HWC float image: one affine resample (rotation, shift, shear,
// zoom), then channel shift, horizontal flip, vertical flip, brightness — Keras's order.
import { affineMatrix, resampleAffine, type AffineParams, type FillMode } from './affine.js';
import { applyBrightness, brightnessTable } from './brightness.js';
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
  const shift = params.channelShiftIntensity !== undefined && params.channelShiftIntensity !== null;
  const brightness = params.brightness !== undefined && params.brightness !== null;
  let x: Float32Array;
  let flipped = false;
  let brightened = false;
  if (matrix) {
    // Keras's order is resample, channel shift, flips, brightness. Without a channel shift in between,
    // the flips are where the resample writes and brightness is a table on what it writes, when every
    // value is known to be in [0, 255] (bytes in, a fill value in range, no alpha band): one pass.
    flipped = !shift;
    const inByteRange = data instanceof Uint8Array && (settings.fillMode !== 'constant' || (settings.cval >= 0 && settings.cval <= 255));
    brightened = brightness && !shift && inByteRange && channels !== 4;
    x = resampleAffine(data, height, width, channels, matrix, {
      fillMode: settings.fillMode,
      cval: settings.cval,
      order: settings.interpolationOrder,
      flipHorizontal: flipped && params.flipHorizontal,
      flipVertical: flipped && params.flipVertical,
      lut: brightened ? brightnessTable(params.brightness!) : undefined,
    }, scratch);
  } else if (data instanceof Uint8Array) {
    x = scratch && scratch.length === data.length ? scratch : new Float32Array(data.length);
    x.set(data);
  } else {
    x = data;
  }
  if (shift) applyChannelShift(x, params.channelShiftIntensity!);
  if (!flipped && params.flipHorizontal) flipHorizontal(x, height, width, channels);
  if (!flipped && params.flipVertical) flipVertical(x, height, width, channels);
  if (brightness && !brightened) applyBrightness(x, params.brightness!, channels);
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
