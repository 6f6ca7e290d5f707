// Keras's apply_brightness_shift(x, brightness, scale=False), as apply_transform calls it
// (keras/src/legacy/preprocessing/image.py), which goes through PIL:
//  1. array_to_img: values in [0, 255] are cast to uint8 (truncated); only when some value is outside
//     [0, 255] ("local scale") is the image first stretched: x - min, / max, * 255, in float32;
//  2. ImageEnhance.Brightness(factor): PIL blends with black, out = trunc(factor * v) clipped to
//     [0, 255] (an alpha band is kept as is);
//  3. img_to_array, and with the local scale, back to the original range: v / 255 * (max - min) + min.
// So brightness quantises to 256 levels, as Keras's did for the images models were trained on. In place.
import { checkPair, type AugmentationOp } from './augmentation_op.js';
const f32 = Math.fround;

/** PIL's enhance of each uint8 value: trunc(factor * v) in float32, clipped to [0, 255]. */
export function brightnessTable(brightness: number): Uint8Array {
  const factor = f32(brightness);
  const enhanced = new Uint8Array(256);
  for (let u = 0; u < 256; u++) {
    const e = f32(factor * u);
    enhanced[u] = e >= 255 ? 255 : e <= 0 ? 0 : e | 0;
  }
  return enhanced;
}

export function applyBrightness(data: Float32Array, brightness: number, channels: number): Float32Array {
  const n = data.length;
  if (n === 0) return data;
  let min = data[0];
  let maxRaw = data[0];
  for (let i = 1; i < n; i++) {
    const v = data[i];
    if (v < min) min = v;
    else if (v > maxRaw) maxRaw = v;
  }
  const enhanced = brightnessTable(brightness);
  const alphaStep = channels === 4 ? 3 : -1;
  const localScale = min < 0 || maxRaw > 255;
  if (!localScale) {
    // Values in [0, 255]: `| 0` is numpy's truncating cast to uint8.
    if (channels === 4) for (let i = 0; i < n; i++) data[i] = (i & 3) === 3 ? data[i] | 0 : enhanced[data[i] | 0];
    else for (let i = 0; i < n; i++) data[i] = enhanced[data[i] | 0];
    return data;
  }
  // float32 subtraction is monotonic: the largest shifted value is the shifted maximum.
  const max = f32(maxRaw - min);
  const inv = max !== 0 ? max : 1;
  const scale = 255 / inv;
  const range = f32(maxRaw - min);
  for (let i = 0; i < n; i++) {
    // The stretch is three float32 operations (each f32(): doing them in doubles then rounding is
    // exact). A double estimate is within 1e-4 of it, so it truncates the same except right next to
    // an integer, where the exact float32 chain decides.
    const shifted = data[i] - min;
    const d = shifted * scale;
    let u = d | 0;
    const frac = d - u;
    if (frac < 1e-4 || frac > 1 - 1e-4) u = f32(f32(f32(shifted) / inv) * 255) | 0;
    if (u > 255) u = 255;
    const e = (i & 3) === alphaStep ? u : enhanced[u];
    data[i] = f32(f32(f32(e / 255) * range) + min);
  }
  return data;
}

export interface BrightnessOptions {
  /** [low, high] PIL brightness factor (Keras's semantics: the result is quantised to 256 levels). */
  brightnessRange?: [number, number] | null;
}

/** Keras's random brightness: a factor in [low, high], applied last. */
export const brightness: AugmentationOp = {
  name: 'brightness',
  options: ['brightnessRange'],
  check: (o: BrightnessOptions) => ({ brightnessRange: o.brightnessRange == null ? null : checkPair('brightnessRange', o.brightnessRange, 'a list of two numbers [low, high] or null') }),
  enabled: (r) => r.brightnessRange !== null,
  draw: (r, rng, _shape, params) => {
    params.brightness = r.brightnessRange ? rng.uniform(r.brightnessRange[0], r.brightnessRange[1]) : null;
  },
  changes: (p) => p.brightness !== undefined && p.brightness !== null,
  pixel: {
    order: 4,
    kernel: (x, _h, _w, c, p) => void applyBrightness(x, p.brightness!, c),
    // A table on what the resample writes, when every value is known to be in [0, 255] and no alpha band is kept as is.
    fuse: (p, context) => (context.inByteRange && context.channels !== 4 ? { lut: brightnessTable(p.brightness!) } : undefined),
  },
  flags: [{ flag: 'brightness-range', option: 'brightnessRange', value: 'pair', metavar: 'LO,HI', help: 'PIL brightness factor, e.g. 0.8,1.2' }],
};
