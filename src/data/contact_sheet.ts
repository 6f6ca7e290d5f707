// One PNG showing many small images in a grid: what `tlkit augment` writes to look at augmentations.
import sharp from 'sharp';

export interface SheetImage {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/** Images of equal size in rows of `columns` (default: a square-ish grid), `gap` pixels apart on grey. */
export async function writeContactSheet(path: string, images: SheetImage[], options: { columns?: number; gap?: number } = {}): Promise<{ width: number; height: number }> {
  if (images.length === 0) throw new RangeError('writeContactSheet: no images');
  const { height: h, width: w } = images[0];
  const columns = options.columns ?? Math.ceil(Math.sqrt(images.length));
  const rows = Math.ceil(images.length / columns);
  const gap = options.gap ?? 2;
  const W = columns * w + (columns + 1) * gap;
  const H = rows * h + (rows + 1) * gap;
  const sheet = Buffer.alloc(W * H * 3, 96);
  images.forEach((img, k) => {
    const x0 = gap + (k % columns) * (w + gap);
    const y0 = gap + Math.floor(k / columns) * (h + gap);
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const src = (r * w + c) * img.channels;
        const dst = ((y0 + r) * W + x0 + c) * 3;
        if (img.channels >= 3) {
          sheet[dst] = img.data[src];
          sheet[dst + 1] = img.data[src + 1];
          sheet[dst + 2] = img.data[src + 2];
        } else {
          sheet.fill(img.data[src], dst, dst + 3);
        }
      }
    }
  });
  await sharp(sheet, { raw: { width: W, height: H, channels: 3 } }).png().toFile(path);
  return { width: W, height: H };
}
