// 8-bit RGB pixels at the model's input size -> the float32 batch row the model takes: the run's
// preprocess_input mode, then its rescale. One function for `tlkit predict`, the HTTP service and the
// exported web page, so the three feed a model the same numbers (no tfjs, no sharp: it is bundled).
import type { PreprocessMode } from '../models/types.js';
import { preprocessInputArray } from './preprocess_array.js';

export interface ModelInputSpec {
  preprocess: PreprocessMode | string;
  rescale?: number;
}

/**
 * Each output channel is a function of one input byte, so the whole preprocessing is a lookup: table
 * entry v*3+c is what preprocessInputArray (then rescale) makes of byte v in channel c, computed by
 * running them on a 256-pixel grey ramp, so the values are theirs bit for bit. 'caffe' also swaps RGB
 * to BGR: output channel c reads input channel SOURCE[c].
 */
const tables = new Map<string, Float32Array>();

function tableFor(spec: ModelInputSpec): Float32Array {
  const key = `${spec.preprocess}|${spec.rescale ?? ''}`;
  let table = tables.get(key);
  if (!table) {
    table = new Float32Array(256 * 3);
    for (let v = 0; v < 256; v++) table.fill(v, v * 3, v * 3 + 3);
    preprocessInputArray(table, 3, spec.preprocess as PreprocessMode);
    if (spec.rescale !== undefined) for (let i = 0; i < table.length; i++) table[i] *= spec.rescale;
    tables.set(key, table);
  }
  return table;
}

export function modelInputFromRgb(rgb: Uint8Array, spec: ModelInputSpec): Float32Array {
  const data = new Float32Array(rgb.length);
  modelInputInto(rgb, spec, data, 0);
  return data;
}

/** The same, written into `out` from index `offset` (a row of a batch being filled): no array of its own. */
export function modelInputInto(rgb: Uint8Array, spec: ModelInputSpec, out: Float32Array, offset: number): void {
  if (offset < 0 || offset + rgb.length > out.length) throw new RangeError(`modelInputInto: ${rgb.length} values from ${offset} do not fit in ${out.length}`);
  const table = tableFor(spec);
  const [s0, s1, s2] = spec.preprocess === 'caffe' ? [2, 1, 0] : [0, 1, 2];
  for (let i = 0, o = offset; i < rgb.length; i += 3, o += 3) {
    out[o] = table[rgb[i + s0] * 3];
    out[o + 1] = table[rgb[i + s1] * 3 + 1];
    out[o + 2] = table[rgb[i + s2] * 3 + 2];
  }
}
