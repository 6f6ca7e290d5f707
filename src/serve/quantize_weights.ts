// model.json's standard weight quantization, as the tfjs converter writes it (--quantize_uint8,
// --quantize_float16) and as tfjs-core's io.decodeWeights reads it on load, in any tfjs:
//   { name, shape, dtype: 'float32', quantization: { dtype: 'uint8', scale, min } }   value = q * scale + min
//   { name, shape, dtype: 'float32', quantization: { dtype: 'float16' } }
// uint8 is per tensor, with the range nudged so that 0.0 is exact (the converter's affine rule), and
// applies to kernels (rank >= 2) only: one uint8 scale over a BatchNorm moving variance spanning
// 1e-4..10 would wipe out its small values, so 1-D weights (biases, BatchNorm) are stored as float16
// instead (3-4% of a MobileNetV2's weights; as float32 they would make the page 0.30x, not 0.27x).
import type { tf } from '../engines/tfjs/tf.js';

export type WebWeightQuantization = 'uint8' | 'float16';
export const WEB_WEIGHT_QUANTIZATIONS: readonly WebWeightQuantization[] = ['uint8', 'float16'];

type WeightSpec = tf.io.WeightsManifestEntry;

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** How a float32 weight is stored: kernels (rank >= 2) as asked, 1-D weights as float16 at most. */
export function storedAs(spec: WeightSpec, dtype: WebWeightQuantization): WebWeightQuantization | undefined {
  if (spec.dtype !== 'float32' || spec.quantization !== undefined) return undefined;
  return spec.shape.length >= 2 ? dtype : 'float16';
}

/** Specs and weight bytes (float32 as tfjs saves them) rewritten with `dtype` quantization. */
export function quantizeWeights(specs: readonly WeightSpec[], data: Uint8Array, dtype: WebWeightQuantization): { specs: WeightSpec[]; data: Uint8Array } {
  const parts: Uint8Array[] = [];
  const out: WeightSpec[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization) throw new Error(`internal: weight ${spec.name} is already quantized`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const size = count * (BYTES[spec.dtype] ?? 4);
    const bytes = data.subarray(offset, offset + size);
    offset += size;
    const as = storedAs(spec, dtype);
    if (!as) {
      parts.push(bytes);
      out.push(spec);
      continue;
    }
    const values = new Float32Array(bytes.slice().buffer);
    if (as === 'float16') {
      parts.push(new Uint8Array(toFloat16(values).buffer));
      out.push({ ...spec, quantization: { dtype: 'float16' } });
    } else {
      const { q, scale, min } = toUint8(values);
      parts.push(q);
      out.push({ ...spec, quantization: { dtype: 'uint8', scale, min } });
    }
  }
  if (offset !== data.length) throw new Error(`internal: the weight specs describe ${offset} bytes, the data holds ${data.length}`);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return { specs: out, data: joined };
}

/** Affine uint8 with 0.0 exactly representable (min nudged to a multiple of the scale). */
export function toUint8(values: Float32Array): { q: Uint8Array; scale: number; min: number } {
  let lo = 0;
  let hi = 0;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const zeroPoint = Math.round(Math.min(255, Math.max(0, -lo / scale)));
  const min = -zeroPoint * scale;
  const q = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.min(255, Math.max(0, Math.round((values[i] - min) / scale)));
  return { q, scale, min };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half precision, rounded to nearest even (what numpy's astype(float16) gives). */
export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    let mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0);
      continue;
    }
    let e = exponent - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mantissa |= 0x800000;
      const shift = 14 - e;
      let half = mantissa >>> shift;
      const rest = mantissa & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rest > halfway || (rest === halfway && half & 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
    e = half; // a carry out of the mantissa moves into the exponent, as it should
    out[i] = sign | e;
  }
  return out;
}
