// Keras's apply_brightness_shift(x, brightness, scale=True), which goes through PIL:
//  1. array_to_img(scale=True): x - min, / max (if max != 0), * 255, in float32, truncated to uint8;
//  2. ImageEnhance.Brightness(factor): PIL blends with black, out = trunc(factor * v) clipped to
//     [0, 255] (an alpha channel is kept as is);
//  3. img_to_array: back to float32 in 0-255.
// So Keras's brightness also stretches the image to the full 0-255 range and quantises it; we keep
// that, because models trained with Keras saw exactly these images. In place.
const f32 = Math.fround;

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
  // float32 subtraction is monotonic: the largest shifted value is the shifted maximum.
  const max = f32(maxRaw - min);
  // PIL keeps the alpha band through the enhance: it only goes through the 0-255 stretch.
  let alpha: Float32Array | null = null;
  if (channels === 4) {
    alpha = new Float32Array(n >> 2);
    const invA = max !== 0 ? max : 1;
    for (let i = 3, k = 0; i < n; i += 4, k++) alpha[k] = f32(f32(f32(data[i] - min) / invA) * 255) | 0;
  }
  const factor = f32(brightness);
  // PIL's enhance of a uint8 value, for all 256 of them.
  const enhanced = new Uint8Array(256);
  for (let u = 0; u < 256; u++) {
    const e = f32(factor * u);
    enhanced[u] = e >= 255 ? 255 : e <= 0 ? 0 : e | 0;
  }
  // The stretch to uint8 is three float32 operations (f32() each: doing them in doubles then rounding
  // is exact). A double-precision estimate is within 1e-4 of that result, so it gives the same
  // truncation except right next to an integer, where the exact float32 chain decides.
  const inv = max !== 0 ? max : 1;
  const scale = 255 / inv;
  for (let i = 0; i < n; i++) {
    const shifted = data[i] - min;
    const d = shifted * scale;
    let u = d | 0;
    const frac = d - u;
    if (frac < 1e-4 || frac > 1 - 1e-4) u = f32(f32(f32(shifted) / inv) * 255) | 0;
    data[i] = enhanced[u > 255 ? 255 : u];
  }
  if (alpha) for (let i = 3; i < n; i += 4) data[i] = alpha[i >> 2];
  return data;
}
