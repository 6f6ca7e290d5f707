// Keras's apply_brightness_shift(x, brightness, scale=True), which goes through PIL:
//  1. array_to_img(scale=True): x - min, / max (if max != 0), * 255, in float32, truncated to uint8;
//  2. ImageEnhance.Brightness(factor): PIL blends with black, out = trunc(factor * v) clipped to
//     [0, 255] (an alpha channel is kept as is);
//  3. img_to_array: back to float32 in 0-255.
// So Keras's brightness also stretches the image to the full 0-255 range and quantises it; we keep
// that, because models trained with Keras saw exactly these images. In place.
const f32 = Math.fround;

export function applyBrightness(data: Float32Array, brightness: number, channels: number): Float32Array {
  if (data.length === 0) return data;
  let min = Infinity;
  for (let i = 0; i < data.length; i++) if (data[i] < min) min = data[i];
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = f32(data[i] - min);
    if (v > max) max = v;
  }
  const factor = f32(brightness);
  const hasAlpha = channels === 4;
  for (let i = 0; i < data.length; i++) {
    let v = f32(data[i] - min);
    if (max !== 0) v = f32(v / max);
    v = Math.trunc(f32(v * 255));
    // numpy's float->uint8 cast of values in [0, 255] is a truncation.
    if (hasAlpha && i % 4 === 3) {
      data[i] = v;
      continue;
    }
    let e = f32(factor * v);
    e = e <= 0 ? 0 : e >= 255 ? 255 : Math.trunc(e);
    data[i] = e;
  }
  return data;
}
