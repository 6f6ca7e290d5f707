// keras.applications' preprocess_input modes on a flat float32 HWC array, without tensors: the kernel
// behind preprocessInput, also bundled into the exported web page (so it imports neither tfjs nor sharp).
// Arithmetic is float32 step by step, as numpy does it on a float32 array.
import { invalidArgument } from '../core/errors.js';
import type { PreprocessMode } from '../models/types.js';

export const PREPROCESS_MODES: readonly PreprocessMode[] = ['tf', 'caffe', 'torch', 'none'];

/** ImageNet BGR means Keras subtracts in 'caffe' mode. */
export const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;
export const TORCH_MEAN = [0.485, 0.456, 0.406] as const;
export const TORCH_STD = [0.229, 0.224, 0.225] as const;

const f32 = Math.fround;

/** Applies `mode` to flat HWC data in place. caffe and torch need 3 channels (RGB). */
export function preprocessInputArray(data: Float32Array, channels: number, mode: PreprocessMode): Float32Array {
  switch (mode) {
    case 'none':
      return data;
    case 'tf':
      for (let i = 0; i < data.length; i++) {
        data[i] = data[i] / 127.5;
        data[i] = data[i] - 1;
      }
      return data;
    case 'caffe': {
      if (channels !== 3) throw invalidArgument('channels', channels, "3 (RGB) for preprocess mode 'caffe'");
      const m0 = f32(CAFFE_MEAN_BGR[0]);
      const m1 = f32(CAFFE_MEAN_BGR[1]);
      const m2 = f32(CAFFE_MEAN_BGR[2]);
      for (let i = 0; i < data.length; i += 3) {
        const r = data[i];
        const b = data[i + 2];
        data[i] = b - m0;
        data[i + 1] = data[i + 1] - m1;
        data[i + 2] = r - m2;
      }
      return data;
    }
    case 'torch': {
      if (channels !== 3) throw invalidArgument('channels', channels, "3 (RGB) for preprocess mode 'torch'");
      for (let i = 0; i < data.length; i++) {
        const k = i % 3;
        data[i] = data[i] / 255;
        data[i] = data[i] - f32(TORCH_MEAN[k]);
        data[i] = data[i] / f32(TORCH_STD[k]);
      }
      return data;
    }
    default:
      throw invalidArgument('mode', mode, `one of ${PREPROCESS_MODES.join(', ')}`);
  }
}
