// Keras's standardize steps after preprocessing_function and rescale, as pure kernels on HWC float
// data, in place. Keras's order: samplewise centre, samplewise std, featurewise centre, featurewise
// std, ZCA. 1e-6 is Keras's epsilon for both std divisions.
import { preprocessInputArray } from '../preprocess_array.js';
import type { PreprocessMode } from '../../models/types.js';

/**
 * The part of standardize that depends on nothing but the image: a keras.applications preprocess_input
 * mode, then rescale. Serialisable, so a sample job applies it where the image was made (a worker
 * thread, while the pixels are still in cache) and the batch assembly is a plain copy.
 */
export interface PixelStandardization {
  preprocess?: PreprocessMode;
  rescale?: number;
}

/** Applies `s` in place, in standardize's order (preprocessing function, then rescale). */
export function applyPixelStandardization(data: Float32Array, channels: number, s: PixelStandardization): Float32Array {
  if (s.preprocess && s.preprocess !== 'none') preprocessInputArray(data, channels, s.preprocess);
  if (s.rescale) rescaleInPlace(data, s.rescale);
  return data;
}

/** x *= factor (Keras's rescale), in place. */
export function rescaleInPlace(data: Float32Array, factor: number): Float32Array {
  for (let i = 0; i < data.length; i++) data[i] *= factor;
  return data;
}

/** x -= mean(x) over the whole image (all pixels and channels), like np.mean(x, keepdims=True). */
export function samplewiseCenter(data: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i];
  const mean = sum / data.length;
  for (let i = 0; i < data.length; i++) data[i] -= mean;
  return data;
}

/** x /= (std(x) + 1e-6), population std over the whole image. */
export function samplewiseStdNormalize(data: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i];
  const mean = sum / data.length;
  let sq = 0;
  for (let i = 0; i < data.length; i++) {
    const d = data[i] - mean;
    sq += d * d;
  }
  const std = Math.sqrt(sq / data.length);
  const scale = 1 / (std + 1e-6);
  for (let i = 0; i < data.length; i++) data[i] = data[i] * scale;
  return data;
}

/**
 * x -= mean, broadcast like numpy: `mean` has one value per channel (Keras's fit stores shape
 * (1, 1, C)) or one per element (H*W*C).
 */
export function featurewiseCenter(data: Float32Array, mean: Float32Array | number[]): Float32Array {
  const n = mean.length;
  for (let i = 0; i < data.length; i++) data[i] -= mean[i % n];
  return data;
}

/** x /= (std + 1e-6), broadcast as in featurewiseCenter. */
export function featurewiseStdNormalize(data: Float32Array, std: Float32Array | number[]): Float32Array {
  const n = std.length;
  const inv = new Float64Array(n);
  for (let k = 0; k < n; k++) inv[k] = std[k] + 1e-6;
  for (let i = 0; i < data.length; i++) data[i] = data[i] / inv[i % n];
  return data;
}

/** x·P for the flattened image, P being the D x D principal components from fitZca. Returns new data. */
export function zcaWhiten(data: Float32Array, principalComponents: Float32Array, out?: Float32Array): Float32Array {
  const d = data.length;
  if (principalComponents.length !== d * d) {
    throw new RangeError(`zcaWhiten: principal components hold ${principalComponents.length} values, expected ${d} x ${d} for an image of ${d} values`);
  }
  const acc = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    const v = data[i];
    if (v === 0) continue;
    const row = i * d;
    for (let j = 0; j < d; j++) acc[j] += v * principalComponents[row + j];
  }
  const result = out ?? new Float32Array(d);
  for (let j = 0; j < d; j++) result[j] = acc[j];
  return result;
}
