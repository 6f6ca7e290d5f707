// Perceptual hashes of a small grayscale image (pure functions, so they are tested on made-up pixels):
// pHash (2-D DCT of 32x32, the 8x8 lowest frequencies against their median) and dHash (9x8 box-resampled,
// each pixel brighter than its right neighbour). Both survive resizing and JPEG re-encoding; a 64-bit
// hash is two uint32 words, compared by Hamming distance.

export const HASH_SIDE = 32;

/** A 64-bit hash as [high, low] uint32 words. */
export type Hash64 = [number, number];

const DCT_N = HASH_SIDE;
/** Lowest frequencies kept by lowFrequencies (pHash uses the 8x8 corner of them). */
export const LOW_SIDE = 16;
/** cos((2x + 1) u pi / 2N) for u < LOW_SIDE, x < N. */
const DCT_TABLE = (() => {
  const t = new Float64Array(LOW_SIDE * DCT_N);
  for (let u = 0; u < LOW_SIDE; u++) for (let x = 0; x < DCT_N; x++) t[u * DCT_N + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * DCT_N));
  return t;
})();

function bitsToHash(bits: ArrayLike<boolean>): Hash64 {
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 32; i++) if (bits[i]) hi |= 1 << (31 - i);
  for (let i = 0; i < 32; i++) if (bits[32 + i]) lo |= 1 << (31 - i);
  return [hi >>> 0, lo >>> 0];
}

/** The LOW_SIDE x LOW_SIDE lowest frequencies of the 2-D DCT-II of a 32x32 grayscale image (row-major [v][u]). */
export function lowFrequencies(pixels: ArrayLike<number>): Float64Array {
  if (pixels.length !== DCT_N * DCT_N) throw new RangeError(`expected ${DCT_N}x${DCT_N} pixels; got ${pixels.length}`);
  // Rows first (only the lowest frequencies are needed), then columns.
  const rows = new Float64Array(DCT_N * LOW_SIDE);
  for (let y = 0; y < DCT_N; y++) {
    for (let u = 0; u < LOW_SIDE; u++) {
      let s = 0;
      for (let x = 0; x < DCT_N; x++) s += pixels[y * DCT_N + x] * DCT_TABLE[u * DCT_N + x];
      rows[y * LOW_SIDE + u] = s;
    }
  }
  const low = new Float64Array(LOW_SIDE * LOW_SIDE);
  for (let v = 0; v < LOW_SIDE; v++) {
    for (let u = 0; u < LOW_SIDE; u++) {
      let s = 0;
      for (let y = 0; y < DCT_N; y++) s += rows[y * LOW_SIDE + u] * DCT_TABLE[v * DCT_N + y];
      low[v * LOW_SIDE + u] = s;
    }
  }
  return low;
}

/** pHash from lowFrequencies' output: the 8x8 lowest frequencies against their median. */
export function pHashOfLow(low: ArrayLike<number>): Hash64 {
  const block: number[] = [];
  for (let v = 0; v < 8; v++) for (let u = 0; u < 8; u++) block.push(low[v * LOW_SIDE + u]);
  const sorted = [...block].sort((a, b) => a - b);
  const median = (sorted[31] + sorted[32]) / 2;
  return bitsToHash(block.map((c) => c > median));
}

/** pHash of a 32x32 grayscale image (row-major, any scale). */
export function pHash(pixels: ArrayLike<number>): Hash64 {
  return pHashOfLow(lowFrequencies(pixels));
}

/**
 * The low frequencies without the DC term, centred and scaled to unit length: a 143-number signature
 * whose dot product with another's is insensitive to brightness and contrast and, unlike the 64 bits of
 * pHash, keeps how strongly each frequency is present.
 */
export function lowFrequencySignature(low: ArrayLike<number>): Float32Array {
  const out = new Float32Array(low.length - 1);
  let mean = 0;
  for (let i = 1; i < low.length; i++) mean += low[i];
  mean /= out.length;
  let norm = 0;
  for (let i = 1; i < low.length; i++) {
    out[i - 1] = low[i] - mean;
    norm += out[i - 1] * out[i - 1];
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < out.length; i++) out[i] *= scale;
  return out;
}

export function dot32(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Box-resamples a square grayscale image to w x h (area weights), for dHash. */
function resampleBox(pixels: ArrayLike<number>, side: number, w: number, h: number): Float64Array {
  const out = new Float64Array(w * h);
  const sx = side / w;
  const sy = side / h;
  for (let oy = 0; oy < h; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < w; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      let sum = 0;
      let area = 0;
      for (let y = Math.floor(y0); y < Math.ceil(y1); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.ceil(x1); x++) {
          const wx = Math.min(x + 1, x1) - Math.max(x, x0);
          sum += pixels[y * side + x] * wx * wy;
          area += wx * wy;
        }
      }
      out[oy * w + ox] = sum / area;
    }
  }
  return out;
}

/**
 * A width x height grayscale image area-averaged to side x side (each output pixel the mean of the input
 * area it covers, fractional pixels weighted): the anti-aliased downscale of small images, in place of a
 * resampling pass through sharp that cost twice the decode.
 */
export function areaResize(pixels: ArrayLike<number>, width: number, height: number, side = HASH_SIDE): Float64Array {
  const out = new Float64Array(side * side);
  const sx = width / side;
  const sy = height / side;
  for (let oy = 0; oy < side; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < side; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      let sum = 0;
      let area = 0;
      for (let y = Math.floor(y0); y < Math.ceil(y1) && y < height; y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.ceil(x1) && x < width; x++) {
          const wx = Math.min(x + 1, x1) - Math.max(x, x0);
          sum += pixels[y * width + x] * wx * wy;
          area += wx * wy;
        }
      }
      out[oy * side + ox] = area > 0 ? sum / area : 0;
    }
  }
  return out;
}

/** dHash of a 32x32 grayscale image: 9x8 box-resampled, bit = left pixel brighter than its right neighbour. */
export function dHash(pixels: ArrayLike<number>): Hash64 {
  const small = resampleBox(pixels, HASH_SIDE, 9, 8);
  const bits: boolean[] = [];
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) bits.push(small[y * 9 + x] > small[y * 9 + x + 1]);
  return bitsToHash(bits);
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function hamming(a: Hash64, b: Hash64): number {
  return popcount32((a[0] ^ b[0]) >>> 0) + popcount32((a[1] ^ b[1]) >>> 0);
}

/** The `bits`-wide chunk number `index` of a hash (chunks from the high word down). */
export function hashChunk(h: Hash64, index: number, bits: number): number {
  let value = 0;
  for (let b = 0; b < bits; b++) {
    const bit = index * bits + b;
    const word = bit < 32 ? h[0] : h[1];
    value = value * 2 + ((word >>> (31 - (bit % 32))) & 1);
  }
  return value;
}
