// A heatmap drawn over its image: the map resized to the picture, coloured with a jet-like colormap
// (blue = 0, red = 1), and blended so the cold parts leave the image readable. PNG through sharp.
import sharp from 'sharp';
import { DEFAULT_LIMIT_INPUT_PIXELS } from '../data/decode.js';
import { resizeHeatmap, type Heatmap } from './grad_cam.js';

/** Jet's anchors at 0, 1/8, 3/8, 5/8, 7/8, 1 (dark blue, blue, cyan, yellow, red, dark red); linear in between. */
const JET: ReadonlyArray<readonly [number, number, number, number]> = [
  [0, 0, 0, 128],
  [0.125, 0, 0, 255],
  [0.375, 0, 255, 255],
  [0.625, 255, 255, 0],
  [0.875, 255, 0, 0],
  [1, 128, 0, 0],
];

/** The colour of `v` (clamped to 0..1) as [r, g, b] bytes. */
export function jetColor(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0));
  let i = 1;
  while (i < JET.length - 1 && JET[i][0] < t) i++;
  const [t0, r0, g0, b0] = JET[i - 1];
  const [t1, r1, g1, b1] = JET[i];
  const f = (t - t0) / (t1 - t0);
  return [Math.round(r0 + (r1 - r0) * f), Math.round(g0 + (g1 - g0) * f), Math.round(b0 + (b1 - b0) * f)];
}

export interface OverlayOptions {
  /** Longest side of the picture, in pixels (default 320): overlays are for looking, not for measuring. */
  maxSide?: number;
}

/**
 * The image at `file` (EXIF orientation applied, scaled to fit `maxSide`) with `heatmap` blended over it:
 * opacity 0.15 where the map is 0 up to 0.6 where it is 1. Returns PNG bytes.
 */
export async function heatmapOverlayPng(file: string | Buffer, heatmap: Heatmap, options: OverlayOptions = {}): Promise<Buffer> {
  const maxSide = options.maxSide ?? 320;
  const { data, info } = await sharp(file, { limitInputPixels: DEFAULT_LIMIT_INPUT_PIXELS })
    .rotate()
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: false })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height, channels } = info;
  const map = resizeHeatmap(heatmap, height, width);
  const out = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const v = map.data[p];
    const [r, g, b] = jetColor(v);
    const alpha = 0.15 + 0.45 * Math.min(1, Math.max(0, v));
    // A grey source may still come out with one channel: read it for all three.
    const at = (c: number) => data[p * channels + Math.min(c, channels - 1)];
    out[p * 3] = Math.round(at(0) * (1 - alpha) + r * alpha);
    out[p * 3 + 1] = Math.round(at(1) * (1 - alpha) + g * alpha);
    out[p * 3 + 2] = Math.round(at(2) * (1 - alpha) + b * alpha);
  }
  return sharp(out, { raw: { width, height, channels: 3 } }).png().toBuffer();
}
