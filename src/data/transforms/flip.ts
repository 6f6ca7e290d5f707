// Random flips (Keras horizontal_flip, vertical_flip) and their kernels.
// Mirror an HWC image in place: horizontal swaps columns (Keras flips the column axis for
// horizontal_flip), vertical swaps rows.
import type { AugmentationOp } from './augmentation_op.js';
export function flipHorizontal(data: Float32Array, height: number, width: number, channels: number): Float32Array {
  const rowStride = width * channels;
  for (let r = 0; r < height; r++) {
    let a = r * rowStride;
    let b = a + (width - 1) * channels;
    while (a < b) {
      for (let k = 0; k < channels; k++) {
        const t = data[a + k];
        data[a + k] = data[b + k];
        data[b + k] = t;
      }
      a += channels;
      b -= channels;
    }
  }
  return data;
}

export function flipVertical(data: Float32Array, height: number, width: number, channels: number): Float32Array {
  const rowStride = width * channels;
  const tmp = new Float32Array(rowStride);
  for (let top = 0, bottom = height - 1; top < bottom; top++, bottom--) {
    const a = data.subarray(top * rowStride, (top + 1) * rowStride);
    const b = data.subarray(bottom * rowStride, (bottom + 1) * rowStride);
    tmp.set(a);
    a.set(b);
    b.set(tmp);
  }
  return data;
}

export interface FlipOptions {
  horizontalFlip?: boolean;
  verticalFlip?: boolean;
}

function flipOp(name: 'horizontalFlip' | 'verticalFlip', param: 'flipHorizontal' | 'flipVertical', order: number, kernel: typeof flipHorizontal, help: string): AugmentationOp {
  return {
    name,
    options: [name],
    check: (o: FlipOptions) => ({ [name]: Boolean(o[name]) }),
    enabled: (r) => r[name],
    // Half of the images, one draw each (Keras).
    draw: (r, rng, _shape, params) => {
      params[param] = r[name] ? rng.random() < 0.5 : false;
    },
    changes: (p) => Boolean(p[param]),
    pixel: {
      order,
      kernel: (x, h, w, c) => void kernel(x, h, w, c),
      // The resample writes each row / column where the flip would have put it.
      fuse: () => ({ [param]: true }),
    },
    flags: [{ flag: name === 'horizontalFlip' ? 'horizontal-flip' : 'vertical-flip', option: name, value: 'switch', help }],
  };
}

/** Keras applies the flips after the channel shift (order 1), horizontal first. */
export const horizontalFlip = flipOp('horizontalFlip', 'flipHorizontal', 2, flipHorizontal, 'flip half of the images left-right');
export const verticalFlip = flipOp('verticalFlip', 'flipVertical', 3, flipVertical, 'flip half of the images upside down');
