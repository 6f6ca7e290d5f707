// keras.applications' preprocess_input modes, for use as an ImageDataGenerator preprocessingFunction
// (applied per image on 0-255 values after augmentation, before rescale). Arithmetic is float32 step by
// step, as numpy does it on a float32 array.
import { invalidArgument } from '../core/errors.js';
import { tf } from '../engines/tfjs/tf.js';
import { PREPROCESS_MODES, preprocessInputArray } from './preprocess_array.js';
import type { PreprocessMode } from '../models/types.js';

export { PREPROCESS_MODES, CAFFE_MEAN_BGR, TORCH_MEAN, TORCH_STD, preprocessInputArray } from './preprocess_array.js';

/**
 * A Keras preprocessing_function: takes one HWC image tensor (0-255) and returns a new one.
 * `applyInPlace`, when present, does the same on a flat float32 HWC array without tensors; the data
 * pipeline uses it to skip a tensor round trip per image.
 */
export interface PreprocessingFunction {
  (x: tf.Tensor3D): tf.Tensor3D;
  applyInPlace?: (data: Float32Array, channels: number) => void;
  /** The keras.applications mode this function applies (set by preprocessInput). */
  mode?: PreprocessMode;
}

/** keras.applications.*.preprocess_input for one mode, as a preprocessingFunction. */
export function preprocessInput(mode: PreprocessMode): PreprocessingFunction {
  if (!(PREPROCESS_MODES as readonly unknown[]).includes(mode)) throw invalidArgument('mode', mode, `one of ${PREPROCESS_MODES.join(', ')}`);
  const fn = ((x: tf.Tensor3D): tf.Tensor3D => {
    const data = Float32Array.from(x.dataSync());
    preprocessInputArray(data, x.shape[2], mode);
    return tf.tensor3d(data, x.shape, 'float32');
  }) as PreprocessingFunction;
  fn.applyInPlace = (data, channels) => {
    preprocessInputArray(data, channels, mode);
  };
  fn.mode = mode;
  return fn;
}
