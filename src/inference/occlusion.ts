// Occlusion sensitivity (Zeiler & Fergus 2014): how far the class's log-odds falls when a square patch of
// the image is hidden, for patches on a grid. A cell of the map is a stride x stride block of pixels; its
// value is the mean fall over the patches that cover it (patch = 2 strides, so 4 patches inside the image).
//
// What "hidden" means decides what the map can show. A patch filled with one colour (the image's mean) is
// itself an object, a flat square with sharp edges, and a model trained to find a square answers to it: on
// the pointing-game set that fill scored 0.00 (docs/explain.md). The default fill ('shuffle') draws each
// hidden pixel at random from the whole image: its colours and grain without any structure. 'surround' draws
// from the band around the patch (the patch grown by half its side, minus itself), the neighbourhood's
// statistics; it pointed less well and less steadily (docs/explain.md). Seeded per image: the same image
// always gets the same map.
//
// Pure arithmetic on preprocessed NHWC pixels (every preprocessing tlkit applies is per pixel, so shuffling
// before or after it is the same); explain.ts runs the model.
import { seededUniform } from '../core/random.js';
import type { Heatmap } from './grad_cam.js';

export type OcclusionFill = 'shuffle' | 'surround' | 'mean';
export const OCCLUSION_FILLS: readonly OcclusionFill[] = ['shuffle', 'surround', 'mean'];

/** Where the patches go on an h x w image, and the grid of cells the map is reported on. */
export interface OcclusionGrid {
  height: number;
  width: number;
  /** Patch side in pixels ([rows, cols]). */
  patch: [number, number];
  /** Distance between neighbouring patches, and a cell's side ([rows, cols]). */
  stride: [number, number];
  /** Each patch's top-left corner [y, x]. */
  positions: [number, number][];
  /** Cells of the map (ceil(h / stride) x ceil(w / stride)). */
  rows: number;
  cols: number;
}

/** Patch starts 0, stride, 2 x stride... and one flush with the far edge when the steps miss it. */
function starts(size: number, patch: number, stride: number): number[] {
  const out: number[] = [];
  for (let s = 0; s + patch <= size; s += stride) out.push(s);
  if (out[out.length - 1] !== size - patch) out.push(size - patch);
  return out;
}

/** The grid for an h x w input: a patch `patchFraction` of each side (default a quarter), moved by half a patch. */
export function occlusionGrid(height: number, width: number, patchFraction = 0.25): OcclusionGrid {
  const side = (size: number) => Math.min(size, Math.max(2, Math.round(size * patchFraction)));
  const patch: [number, number] = [side(height), side(width)];
  const stride: [number, number] = [Math.max(1, Math.round(patch[0] / 2)), Math.max(1, Math.round(patch[1] / 2))];
  const ys = starts(height, patch[0], stride[0]);
  const xs = starts(width, patch[1], stride[1]);
  return { height, width, patch, stride, positions: ys.flatMap((y) => xs.map((x): [number, number] => [y, x])), rows: Math.ceil(height / stride[0]), cols: Math.ceil(width / stride[1]) };
}

/** A seed from the image's own values, so that the same image always gets the same shuffle. */
function seedOf(image: Float32Array): number {
  let h = 2166136261;
  const step = Math.max(1, Math.floor(image.length / 4096));
  for (let i = 0; i < image.length; i += step) h = Math.imul(h ^ Math.round(image[i] * 1000), 16777619);
  return h >>> 0;
}

/**
 * A pixel index drawn at random from the band around the patch at (py, px): the patch grown by half its
 * side on every side (clipped to the image), minus the patch itself.
 */
function surroundingPixel(random: () => number, py: number, px: number, patch: [number, number], h: number, w: number): number {
  const [ph, pw] = patch;
  const y0 = Math.max(0, py - Math.ceil(ph / 2));
  const y1 = Math.min(h, py + ph + Math.ceil(ph / 2));
  const x0 = Math.max(0, px - Math.ceil(pw / 2));
  const x1 = Math.min(w, px + pw + Math.ceil(pw / 2));
  if ((y1 - y0) * (x1 - x0) === ph * pw) return Math.floor(random() * h * w); // the patch is the whole image
  for (;;) {
    const y = y0 + Math.floor(random() * (y1 - y0));
    const x = x0 + Math.floor(random() * (x1 - x0));
    if (y < py || y >= py + ph || x < px || x >= px + pw) return y * w + x;
  }
}

/**
 * Copies of `image` (h x w x 3, preprocessed) with the patch at each of `positions` hidden, stacked
 * NHWC into one array.
 */
export function occludedCopies(image: Float32Array, grid: OcclusionGrid, positions: [number, number][], fill: OcclusionFill = 'shuffle'): Float32Array {
  const { height: h, width: w, patch } = grid;
  const size = h * w * 3;
  if (image.length !== size) throw new RangeError(`occludedCopies: image has ${image.length} values, expected ${h} x ${w} x 3 = ${size}`);
  const out = new Float32Array(positions.length * size);
  const mean = [0, 0, 0];
  if (fill === 'mean') {
    for (let p = 0; p < size; p += 3) for (let c = 0; c < 3; c++) mean[c] += image[p + c];
    for (let c = 0; c < 3; c++) mean[c] /= h * w;
  }
  const [firstY, firstX] = positions[0] ?? [0, 0];
  const random = seededUniform(seedOf(image), firstY, firstX);
  positions.forEach(([py, px], k) => {
    const o = k * size;
    out.set(image, o);
    for (let r = py; r < py + patch[0]; r++) {
      for (let c = px; c < px + patch[1]; c++) {
        const at = o + (r * w + c) * 3;
        if (fill === 'mean') {
          out[at] = mean[0];
          out[at + 1] = mean[1];
          out[at + 2] = mean[2];
        } else {
          const from = (fill === 'surround' ? surroundingPixel(random, py, px, patch, h, w) : Math.floor(random() * h * w)) * 3;
          out[at] = image[from];
          out[at + 1] = image[from + 1];
          out[at + 2] = image[from + 2];
        }
      }
    }
  });
  return out;
}

/**
 * The map from each patch's fall of the score (`falls[k]` for `grid.positions[k]`): per cell, the mean
 * fall over the patches covering it, negative values (hiding the patch raised the score) set to 0.
 */
export function occlusionHeatmap(falls: ArrayLike<number>, grid: OcclusionGrid): Heatmap {
  const { height: h, width: w, patch, stride, positions, rows, cols } = grid;
  if (falls.length !== positions.length) throw new RangeError(`occlusionHeatmap: ${falls.length} falls for ${positions.length} patches`);
  const sum = new Float64Array(h * w);
  const count = new Uint16Array(h * w);
  positions.forEach(([py, px], k) => {
    for (let r = py; r < py + patch[0]; r++) {
      for (let c = px; c < px + patch[1]; c++) {
        sum[r * w + c] += falls[k];
        count[r * w + c]++;
      }
    }
  });
  const data = new Float32Array(rows * cols);
  for (let cr = 0; cr < rows; cr++) {
    for (let cc = 0; cc < cols; cc++) {
      let total = 0;
      let n = 0;
      for (let r = cr * stride[0]; r < Math.min(h, (cr + 1) * stride[0]); r++) {
        for (let c = cc * stride[1]; c < Math.min(w, (cc + 1) * stride[1]); c++) {
          if (count[r * w + c] === 0) continue;
          total += sum[r * w + c] / count[r * w + c];
          n++;
        }
      }
      data[cr * cols + cc] = n > 0 ? Math.max(0, total / n) : 0;
    }
  }
  return { rows, cols, data };
}

/** Smallest probability a sigmoid's log-odds reads (float32 holds 1 - p to about this). */
const SIGMOID_FLOOR = 1e-7;
/** Smallest positive float32: a softmax's probabilities below it are 0. */
const FLOAT32_TINY = 1e-38;

/**
 * The log-odds of class `classIndex` from one output row: log p_c - log(sum of the other classes'
 * probabilities) for a softmax (summing the others keeps their small values exact, where 1 - p_c would
 * round to 0), log(p / (1 - p)) for a sigmoid unit's class 1 and its negative for class 0; log p for a
 * softmax over one class.
 */
export function classLogOdds(row: ArrayLike<number>, classIndex: number, binary: boolean): number {
  if (binary) {
    const p = Math.min(1 - SIGMOID_FLOOR, Math.max(SIGMOID_FLOOR, row[0]));
    const z = Math.log(p) - Math.log(1 - p);
    return classIndex === 1 ? z : -z;
  }
  const own = Math.log(Math.max(FLOAT32_TINY, row[classIndex]));
  if (row.length < 2) return own;
  let others = 0;
  for (let j = 0; j < row.length; j++) if (j !== classIndex) others += row[j];
  return own - Math.log(Math.max(FLOAT32_TINY, others));
}
