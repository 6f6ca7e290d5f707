// Grad-CAM's arithmetic (Selvaraju et al. 2017), on plain arrays so a test can check it by hand:
// given one image's feature map A (rows x cols x channels, NHWC order without N) at a convolutional
// layer and the gradient of a class score with respect to it, weight each channel by the spatial mean
// of its gradient, sum the weighted channels, keep the positive part, and scale to 0..1.
// Also the small helpers that turn that coarse map into what a user sees: a bilinear resize to the
// image's size and the location of the peak in image pixels.

/** A single-channel map, row-major. */
export interface Heatmap {
  rows: number;
  cols: number;
  /** rows * cols values. */
  data: Float32Array;
}

/** rows * cols, after checking that both arrays hold rows x cols x channels values. */
function checkedCells(method: string, activations: Float32Array, gradients: Float32Array, rows: number, cols: number, channels: number): number {
  const cells = rows * cols;
  if (activations.length !== cells * channels || gradients.length !== cells * channels) {
    throw new Error(`internal: ${method} expects ${cells * channels} values (${rows}x${cols}x${channels}); got ${activations.length} activations and ${gradients.length} gradients`);
  }
  return cells;
}

/** The map every method ends with: per cell relu(sum over channels of term(cell, channel)), divided by its maximum. */
function positiveScaled(rows: number, cols: number, channels: number, term: (cell: number, channel: number) => number): Heatmap {
  const cells = rows * cols;
  const data = new Float32Array(cells);
  let max = 0;
  for (let p = 0; p < cells; p++) {
    let sum = 0;
    for (let k = 0; k < channels; k++) sum += term(p, k);
    const v = sum > 0 ? sum : 0;
    data[p] = v;
    if (v > max) max = v;
  }
  if (max > 0) for (let p = 0; p < cells; p++) data[p] /= max;
  return { rows, cols, data };
}

/**
 * cam(i, j) = relu(sum_k w_k A(i, j, k)) with w_k = mean over (i, j) of dScore/dA(i, j, k), divided by its
 * maximum. A map with no positive value (nothing in the layer speaks for the class) stays all zeros.
 */
export function gradCam(activations: Float32Array, gradients: Float32Array, rows: number, cols: number, channels: number): Heatmap {
  const cells = checkedCells('gradCam', activations, gradients, rows, cols, channels);
  const weights = new Float64Array(channels);
  for (let p = 0; p < cells; p++) for (let k = 0; k < channels; k++) weights[k] += gradients[p * channels + k];
  for (let k = 0; k < channels; k++) weights[k] /= cells;
  return positiveScaled(rows, cols, channels, (p, k) => weights[k] * activations[p * channels + k]);
}

/**
 * HiResCAM (Draelos & Carin 2020): cam(i, j) = relu(sum_k dScore/dA(i, j, k) * A(i, j, k)), scaled to 1.
 * The same map as Grad-CAM when the gradient is constant over space (a head that pools first: GAP then
 * Dense); faithful to heads that do not pool (Flatten then Dense), where Grad-CAM's spatial mean of the
 * gradient can cancel a channel that speaks for the class in one place and against it in another.
 */
export function hiResCam(activations: Float32Array, gradients: Float32Array, rows: number, cols: number, channels: number): Heatmap {
  const cells = checkedCells('hiResCam', activations, gradients, rows, cols, channels);
  return positiveScaled(rows, cols, channels, (p, k) => gradients[p * channels + k] * activations[p * channels + k]);
}

/**
 * Grad-CAM++ (Chattopadhay et al. 2018) with the closed form pytorch-grad-cam uses (the exponential of the
 * score assumed, so higher derivatives are powers of the gradient g): per cell and channel
 * alpha = g^2 / (2 g^2 + sum over cells of A * g^3), channel weight w_k = sum over cells of alpha * relu(g),
 * then relu(sum_k w_k A) scaled to 1. Only positive gradients count: a channel's negative evidence
 * elsewhere does not cancel its positive evidence at the object.
 */
export function gradCamPlusPlus(activations: Float32Array, gradients: Float32Array, rows: number, cols: number, channels: number): Heatmap {
  const cells = checkedCells('gradCamPlusPlus', activations, gradients, rows, cols, channels);
  const activationSums = new Float64Array(channels);
  for (let p = 0; p < cells; p++) for (let k = 0; k < channels; k++) activationSums[k] += activations[p * channels + k];
  const weights = new Float64Array(channels);
  for (let p = 0; p < cells; p++) {
    for (let k = 0; k < channels; k++) {
      const g = gradients[p * channels + k];
      if (g <= 0) continue;
      const g2 = g * g;
      const denominator = 2 * g2 + activationSums[k] * g2 * g;
      if (denominator !== 0) weights[k] += (g2 / denominator) * g;
    }
  }
  return positiveScaled(rows, cols, channels, (p, k) => weights[k] * activations[p * channels + k]);
}

/**
 * Bilinear resize with half-pixel centres (what tf.image.resizeBilinear with halfPixelCenters, PIL and
 * OpenCV do): output pixel (y, x) samples the map at ((y + 0.5) * rows / height - 0.5, ...), clamped at
 * the borders. The peak of the result sits at the centre of the map's peak cell.
 */
export function resizeHeatmap(map: Heatmap, height: number, width: number): Heatmap {
  const data = new Float32Array(height * width);
  const sy = map.rows / height;
  const sx = map.cols / width;
  const axis = (out: number, scale: number, size: number): [number, number, number] => {
    const v = Math.min(Math.max((out + 0.5) * scale - 0.5, 0), size - 1);
    const lo = Math.floor(v);
    const hi = Math.min(lo + 1, size - 1);
    return [lo, hi, v - lo];
  };
  const xs = Array.from({ length: width }, (_, x) => axis(x, sx, map.cols));
  for (let y = 0; y < height; y++) {
    const [y0, y1, fy] = axis(y, sy, map.rows);
    for (let x = 0; x < width; x++) {
      const [x0, x1, fx] = xs[x];
      const top = map.data[y0 * map.cols + x0] * (1 - fx) + map.data[y0 * map.cols + x1] * fx;
      const bottom = map.data[y1 * map.cols + x0] * (1 - fx) + map.data[y1 * map.cols + x1] * fx;
      data[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return { rows: height, cols: width, data };
}

/** The map divided by its maximum (in place), so its peak is 1 again after a resize; an all-zero map stays zero. */
export function scaleToPeak(map: Heatmap): Heatmap {
  let max = 0;
  for (const v of map.data) if (v > max) max = v;
  if (max > 0) for (let p = 0; p < map.data.length; p++) map.data[p] /= max;
  return map;
}

/** The highest cell (the first one on ties, row-major) and its centre in the pixels of an image of `height` x `width`. */
export function heatmapPeak(map: Heatmap, height: number, width: number): { row: number; col: number; x: number; y: number } {
  let best = 0;
  for (let p = 1; p < map.data.length; p++) if (map.data[p] > map.data[best]) best = p;
  const row = Math.floor(best / map.cols);
  const col = best % map.cols;
  return { row, col, x: ((col + 0.5) * width) / map.cols, y: ((row + 0.5) * height) / map.rows };
}

/** The map as nested rows (JSON), values rounded to `digits` decimals to keep the file small. */
export function heatmapRows(map: Heatmap, digits = 3): number[][] {
  const scale = 10 ** digits;
  return Array.from({ length: map.rows }, (_, r) => Array.from(map.data.subarray(r * map.cols, (r + 1) * map.cols), (v) => Math.round(v * scale) / scale));
}
