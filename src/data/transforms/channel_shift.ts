// Keras's apply_channel_shift: add one intensity to every channel, clipped to the image's own
// [min, max] (taken over all channels before the shift). In place.
export function applyChannelShift(data: Float32Array, intensity: number): Float32Array {
  if (data.length === 0) return data;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i] + intensity;
    data[i] = v < min ? min : v > max ? max : v;
  }
  return data;
}
