// Keras's apply_channel_shift: add one intensity to every channel, clipped to the image's own
// [min, max] (taken over all channels before the shift). In place.
import { checkNonNegative, type AugmentationOp } from './augmentation_op.js';
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

export interface ChannelShiftOptions {
  channelShiftRange?: number;
}

/** Keras's random channel shift: one intensity in [-r, r], applied first after the resample. */
export const channelShift: AugmentationOp = {
  name: 'channelShift',
  options: ['channelShiftRange'],
  check: (o: ChannelShiftOptions) => ({ channelShiftRange: checkNonNegative('channelShiftRange', o.channelShiftRange ?? 0) }),
  enabled: (r) => r.channelShiftRange !== 0,
  draw: (r, rng, _shape, params) => {
    params.channelShiftIntensity = r.channelShiftRange !== 0 ? rng.uniform(-r.channelShiftRange, r.channelShiftRange) : null;
  },
  changes: (p) => p.channelShiftIntensity !== undefined && p.channelShiftIntensity !== null,
  // Needs the image's own min and max: never done by the resample (and so neither is what comes after it).
  pixel: { order: 1, kernel: (x, _h, _w, _c, p) => void applyChannelShift(x, p.channelShiftIntensity!) },
  flags: [{ flag: 'channel-shift-range', option: 'channelShiftRange', value: 'number', metavar: 'X', help: 'add a value in [-X, X] to every channel' }],
};
