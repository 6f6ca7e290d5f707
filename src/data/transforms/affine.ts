// One affine resample (rotation, shift, shear, zoom) of an HWC float image, equal to Keras's
// apply_affine_transform (keras/src/legacy/preprocessing/image.py), which builds its matrix in (x, y)
// = (column, row) coordinates, swaps it to array (row, col) order and calls
// scipy.ndimage.affine_transform per channel. The matrix maps OUTPUT pixel coordinates to INPUT
// coordinates (scipy's convention): out[r, c] = in[M·(r, c) + offset]. Interpolation and fill modes
// reproduce scipy's (see mapCoordinate). One difference: the centre is ((h-1)/2, (w-1)/2); Keras puts
// h/2 - 0.5 on the x axis, which is only right for square images.
import { invalidArgument } from '../../core/errors.js';

export type FillMode = 'constant' | 'nearest' | 'reflect' | 'wrap';
export const FILL_MODES: readonly FillMode[] = ['constant', 'nearest', 'reflect', 'wrap'];

export interface AffineParams {
  /** Rotation in degrees. Positive turns the content counter-clockwise as displayed (Keras 3). */
  theta?: number;
  /** Horizontal shift in pixels: out[r, c] = in[r, c + tx], so a positive tx moves the content left. */
  tx?: number;
  /** Vertical shift in pixels: out[r, c] = in[r + ty, c], so a positive ty moves the content up. */
  ty?: number;
  /** Shear angle in degrees (Keras's shear matrix [[1, -sin], [0, cos]] in (x, y): a horizontal shear). */
  shear?: number;
  /** Horizontal zoom: samples in[.., zx·c]; zx < 1 enlarges the content (zooms in), zx > 1 shrinks it. */
  zx?: number;
  /** Vertical zoom, as zx for rows. */
  zy?: number;
}

/** input(row, col) = [[m00, m01], [m10, m11]]·(row, col) + (offsetRow, offsetCol). */
export interface AffineMatrix {
  m00: number;
  m01: number;
  m10: number;
  m11: number;
  offsetRow: number;
  offsetCol: number;
}

export interface ResampleOptions {
  fillMode?: FillMode;
  /** Value outside the image in 'constant' mode, for every channel. */
  cval?: number;
  /** 0 = nearest neighbour, 1 = bilinear (Keras's default). */
  order?: 0 | 1;
  /**
   * Work that Keras does after the resample, done while writing each output value (no extra pass over
   * the image; same values): mirror the output columns / rows (horizontal / vertical flip), and map each
   * value, as float32 truncated to an integer, through a 256-entry table (brightness on values known to
   * be in [0, 255]).
   */
  flipHorizontal?: boolean;
  flipVertical?: boolean;
  lut?: Uint8Array;
}

/** A 3x3 matrix in homogeneous (x, y) = (column, row) coordinates, Keras's convention. */
export type M3 = number[][];

export function mulM3(a: M3, b: M3): M3 {
  const r: M3 = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) r[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
  return r;
}

/**
 * Keras's transform matrix `m` (the product of the augmentation ops' factors, in (x, y)) recentred on
 * the image centre, returned in (row, col) order for the resample. null stays null: the identity (Keras
 * then skips the resample).
 */
export function recentredAffine(m: M3 | null, height: number, width: number): AffineMatrix | null {
  if (!m) return null;
  const oX = width / 2 - 0.5;
  const oY = height / 2 - 0.5;
  const offset = [
    [1, 0, oX],
    [0, 1, oY],
    [0, 0, 1],
  ];
  const reset = [
    [1, 0, -oX],
    [0, 1, -oY],
    [0, 0, 1],
  ];
  const f = mulM3(mulM3(offset, m), reset);
  // (x, y) -> (row, col): swap both axes, as Keras does before calling scipy.
  return { m00: f[1][1], m01: f[1][0], m10: f[0][1], m11: f[0][0], offsetRow: f[1][2], offsetCol: f[0][2] };
}

/**
 * scipy.ndimage's map_coordinate: folds a coordinate outside [0, n-1] back according to the mode.
 * Returns -1 for 'constant' when outside (the output takes cval). 'reflect' is half-sample symmetric
 * (d c b a | a b c d | d c b a); 'wrap' is scipy's legacy wrap with period n-1, not n.
 */
export function mapCoordinate(x: number, n: number, mode: FillMode): number {
  if (x < 0) {
    switch (mode) {
      case 'constant':
        return -1;
      case 'nearest':
        return 0;
      case 'reflect': {
        if (n <= 1) return 0;
        const sz2 = 2 * n;
        if (x < -sz2) x = sz2 * Math.trunc(-x / sz2) + x;
        return x < -n ? x + sz2 : -x - 1;
      }
      case 'wrap': {
        if (n <= 1) return 0;
        const sz = n - 1;
        return x + sz * (Math.trunc(-x / sz) + 1);
      }
    }
  } else if (x > n - 1) {
    switch (mode) {
      case 'constant':
        return -1;
      case 'nearest':
        return n - 1;
      case 'reflect': {
        if (n <= 1) return 0;
        const sz2 = 2 * n;
        x -= sz2 * Math.trunc(x / sz2);
        return x >= n ? sz2 - x - 1 : x;
      }
      case 'wrap': {
        if (n <= 1) return 0;
        const sz = n - 1;
        return x - sz * Math.trunc(x / sz);
      }
    }
  }
  return x;
}

const EDGE_EPSILON = 1e-9;

export function checkFillMode(mode: unknown, argument = 'fillMode'): FillMode {
  if (!(FILL_MODES as readonly unknown[]).includes(mode)) throw invalidArgument(argument, mode, `one of ${FILL_MODES.join(', ')}`);
  return mode as FillMode;
}

/**
 * Resamples `src` (HWC, `channels` interleaved) through `matrix` into `dst` (same shape; allocated when
 * omitted). No per-pixel allocation: coordinates are computed in doubles like scipy, taps clamped after
 * scipy's coordinate folding (taps that fall outside carry zero weight or equal the edge sample).
 */
export function resampleAffine(
  src: Float32Array | Uint8Array,
  height: number,
  width: number,
  channels: number,
  matrix: AffineMatrix,
  options: ResampleOptions = {},
  dst?: Float32Array,
): Float32Array {
  const mode = options.fillMode ?? 'nearest';
  const cval = options.cval ?? 0;
  const order = options.order ?? 1;
  const out = dst ?? new Float32Array(height * width * channels);
  if (out.length !== height * width * channels) throw new RangeError(`resampleAffine: dst has ${out.length} values, expected ${height * width * channels}`);
  const { m00, m01, m10, m11, offsetRow, offsetCol } = matrix;
  const lastR = height - 1;
  const lastC = width - 1;
  const rowStride = width * channels;
  const rgb = channels === 3;
  const lut = options.lut;
  if (lut && lut.length !== 256) throw new RangeError(`resampleAffine: lut has ${lut.length} entries, expected 256`);
  const flipH = Boolean(options.flipHorizontal);
  // Output position of (r, c): columns run right to left when mirrored, rows bottom to top.
  const step = flipH ? -channels : channels;
  let o = 0;
  for (let r = 0; r < height; r++) {
    const rowR = m00 * r;
    const rowC = m10 * r;
    const outRow = options.flipVertical ? height - 1 - r : r;
    o = outRow * rowStride + (flipH ? (width - 1) * channels : 0);
    for (let c = 0; c < width; c++, o += step) {
      // Summed in scipy's order (matrix·coordinates, then the offset), so that coordinates landing
      // exactly on an edge round the same way and 'constant' mode cuts at the same pixels.
      let y = rowR + m01 * c + offsetRow;
      let x = rowC + m11 * c + offsetCol;
      if (order === 1 && y >= 0 && y < lastR && x >= 0 && x < lastC) {
        // Fast path, most pixels: strictly inside, both taps valid, no folding or clamping.
        const y0 = y | 0;
        const x0 = x | 0;
        const ty = y - y0;
        const tx = x - x0;
        const w00 = (1 - ty) * (1 - tx);
        const w01 = (1 - ty) * tx;
        const w10 = ty * (1 - tx);
        const w11 = ty * tx;
        const i00 = y0 * rowStride + x0 * channels;
        const i10 = i00 + rowStride;
        if (rgb && lut) {
          // float32 first, then the truncating cast, as the separate brightness pass reads stored values.
          out[o] = lut[Math.fround(w00 * src[i00] + w01 * src[i00 + 3] + w10 * src[i10] + w11 * src[i10 + 3]) | 0];
          out[o + 1] = lut[Math.fround(w00 * src[i00 + 1] + w01 * src[i00 + 4] + w10 * src[i10 + 1] + w11 * src[i10 + 4]) | 0];
          out[o + 2] = lut[Math.fround(w00 * src[i00 + 2] + w01 * src[i00 + 5] + w10 * src[i10 + 2] + w11 * src[i10 + 5]) | 0];
        } else if (rgb) {
          out[o] = w00 * src[i00] + w01 * src[i00 + 3] + w10 * src[i10] + w11 * src[i10 + 3];
          out[o + 1] = w00 * src[i00 + 1] + w01 * src[i00 + 4] + w10 * src[i10 + 1] + w11 * src[i10 + 4];
          out[o + 2] = w00 * src[i00 + 2] + w01 * src[i00 + 5] + w10 * src[i10 + 2] + w11 * src[i10 + 5];
        } else if (lut) {
          for (let k = 0; k < channels; k++) {
            out[o + k] = lut[Math.fround(w00 * src[i00 + k] + w01 * src[i00 + channels + k] + w10 * src[i10 + k] + w11 * src[i10 + channels + k]) | 0];
          }
        } else {
          for (let k = 0; k < channels; k++) {
            out[o + k] = w00 * src[i00 + k] + w01 * src[i00 + channels + k] + w10 * src[i10 + k] + w11 * src[i10 + channels + k];
          }
        }
        continue;
      }
      if (y < 0 || y > lastR) {
        // A coordinate a rounding error outside the image is on its edge: the matrix products
        // (here or in numpy's BLAS) can land 1e-16 either side of an exact edge.
        if (y > -EDGE_EPSILON && y < 0) y = 0;
        else if (y < lastR + EDGE_EPSILON && y > lastR) y = lastR;
        else y = mapCoordinate(y, height, mode);
      }
      if (x < 0 || x > lastC) {
        if (x > -EDGE_EPSILON && x < 0) x = 0;
        else if (x < lastC + EDGE_EPSILON && x > lastC) x = lastC;
        else x = mapCoordinate(x, width, mode);
      }
      // scipy: -1 (constant mode outside) and anything at or below -1 take cval.
      if (y <= -1 || x <= -1) {
        for (let k = 0; k < channels; k++) out[o + k] = lut ? lut[Math.fround(cval) | 0] : cval;
        continue;
      }
      if (order === 0) {
        let ry = Math.floor(y + 0.5);
        let rx = Math.floor(x + 0.5);
        ry = ry < 0 ? 0 : ry > lastR ? lastR : ry;
        rx = rx < 0 ? 0 : rx > lastC ? lastC : rx;
        const i = ry * rowStride + rx * channels;
        for (let k = 0; k < channels; k++) out[o + k] = lut ? lut[Math.fround(src[i + k]) | 0] : src[i + k];
      } else {
        const fy = Math.floor(y);
        const fx = Math.floor(x);
        const ty = y - fy;
        const tx = x - fx;
        const y0 = fy < 0 ? 0 : fy > lastR ? lastR : fy;
        const y1 = fy + 1 < 0 ? 0 : fy + 1 > lastR ? lastR : fy + 1;
        const x0 = fx < 0 ? 0 : fx > lastC ? lastC : fx;
        const x1 = fx + 1 < 0 ? 0 : fx + 1 > lastC ? lastC : fx + 1;
        const w00 = (1 - ty) * (1 - tx);
        const w01 = (1 - ty) * tx;
        const w10 = ty * (1 - tx);
        const w11 = ty * tx;
        const i00 = y0 * rowStride + x0 * channels;
        const i01 = y0 * rowStride + x1 * channels;
        const i10 = y1 * rowStride + x0 * channels;
        const i11 = y1 * rowStride + x1 * channels;
        for (let k = 0; k < channels; k++) {
          const v = w00 * src[i00 + k] + w01 * src[i01 + k] + w10 * src[i10 + k] + w11 * src[i11 + k];
          out[o + k] = lut ? lut[Math.fround(v) | 0] : v;
        }
      }
    }
  }
  return out;
}
