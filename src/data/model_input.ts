// 8-bit RGB pixels at the model's input size -> the float32 batch row the model takes: the run's
// preprocess_input mode, then its rescale. One function for `tlkit predict`, the HTTP service and the
// exported web page, so the three feed a model the same numbers (no tfjs, no sharp: it is bundled).
import type { PreprocessMode } from '../models/types.js';
import { preprocessInputArray } from './preprocess_array.js';

export interface ModelInputSpec {
  preprocess: PreprocessMode | string;
  rescale?: number;
}

export function modelInputFromRgb(rgb: Uint8Array, spec: ModelInputSpec): Float32Array {
  const data = Float32Array.from(rgb);
  preprocessInputArray(data, 3, spec.preprocess as PreprocessMode);
  if (spec.rescale !== undefined) for (let i = 0; i < data.length; i++) data[i] *= spec.rescale;
  return data;
}
