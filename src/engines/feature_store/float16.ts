// IEEE 754 half precision by hand: Node 20 has no Float16Array. Encoding rounds to nearest, ties to
// even (as numpy's astype(float16) does); values past the float16 range become +-65504, not infinity,
// so a stored feature never turns a loss into NaN. Decoding goes through a 65,536-entry table.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> float16 bits, round to nearest even, saturating at +-65504; NaN stays NaN. */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return mantissa ? sign | 0x7e00 : sign | 0x7bff;
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7bff;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit bit into place, rounding.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let bits = mantissa >>> shift;
    if (rest > half || (rest === half && (bits & 1) === 1)) bits++;
    return sign | bits;
  }
  let bits = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (bits & 1) === 1)) bits++;
  // A carry into the exponent is right (it rounds up to the next power of two), but not past the max.
  if ((bits & 0x7fff) >= 0x7c00) return sign | 0x7bff;
  return sign | bits;
}

let table: Float32Array | undefined;

function halfTable(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) table[h] = mantissa ? NaN : sign * Infinity;
    else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return table;
}

/**
 * Encodes `values` into `out` (same length), as toHalfBits does each value. A Float32Array (what the
 * store writes) is read through its bits: normal halves take an add and a shift (the rounding bias
 * 0xfff plus the lowest kept bit gives ties to even), zeros their sign; the rest (subnormal halves,
 * values past the range, NaN) go through toHalfBits.
 */
export function encodeHalf(values: ArrayLike<number>, out: Uint16Array): Uint16Array {
  if (!(values instanceof Float32Array)) {
    for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i]);
    return out;
  }
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    const magnitude = x & 0x7fffffff;
    if (magnitude >= 0x38800000 && magnitude < 0x477ff000) {
      // 2^-14 <= |v| < 65520: rebias the exponent (127 -> 15), round the 13 dropped bits, shift.
      out[i] = ((x >>> 16) & 0x8000) | ((magnitude - 0x38000000 + 0xfff + ((magnitude >>> 13) & 1)) >>> 13);
    } else if (magnitude === 0) {
      out[i] = (x >>> 16) & 0x8000;
    } else {
      out[i] = toHalfBits(values[i]);
    }
  }
  return out;
}

/** Decodes `bits` into `out` (same length). */
export function decodeHalf(bits: Uint16Array, out: Float32Array): Float32Array {
  const t = halfTable();
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}
