// The pointing-game set: noise images with one bright square; the class is the half it sits in
// ('left' or 'right'). Each image's square is known, so a heatmap's peak can be scored against it:
// a hit when the peak lies in the square's box grown by a quarter of its side on every side.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

export const SQUARE_CLASSES = ['left', 'right'] as const;

export interface SquareImage {
  /** 0 = left, 1 = right (index into SQUARE_CLASSES). */
  label: number;
  /** The square's top-left corner and side, in pixels. */
  x: number;
  y: number;
  side: number;
}

export interface SquareSet {
  size: number;
  images: SquareImage[];
  /** n x size x size x 3 bytes, RGB. */
  pixels: Uint8Array;
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return (s >>> 8) / 16777216;
  };
}

/** `n` images (classes alternate) of size x size, the square's side a quarter of the size; background noise 0..noise-1 (default 140), square 200..255. */
export function brightSquareSet(n: number, size: number, seed = 1, noise = 140): SquareSet {
  const rand = seeded(seed);
  const side = Math.round(size / 4);
  const pixels = new Uint8Array(n * size * size * 3);
  const images: SquareImage[] = [];
  const half = size / 2;
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const x = (label === 0 ? 0 : half) + Math.floor(rand() * (half - side + 1));
    const y = Math.floor(rand() * (size - side + 1));
    images.push({ label, x, y, side });
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const inside = c >= x && c < x + side && r >= y && r < y + side;
        for (let ch = 0; ch < 3; ch++) pixels[((i * size + r) * size + c) * 3 + ch] = inside ? 200 + Math.floor(rand() * 56) : Math.floor(rand() * noise);
      }
    }
  }
  return { size, images, pixels };
}

/** The pointing game's hit test: is (px, py) inside the square grown by a quarter of its side? */
export function pointsAtSquare(image: SquareImage, px: number, py: number): boolean {
  const g = image.side / 4;
  return px >= image.x - g && px <= image.x + image.side + g && py >= image.y - g && py <= image.y + image.side + g;
}

/** Writes the set as PNGs: root/<class>/img000.png... (flowFromDirectory's layout). Returns the files in set order. */
export async function writeSquareSet(set: SquareSet, root: string): Promise<string[]> {
  const files: string[] = [];
  const per = set.size * set.size * 3;
  for (const cls of SQUARE_CLASSES) await mkdir(join(root, cls), { recursive: true });
  for (let i = 0; i < set.images.length; i++) {
    const file = join(root, SQUARE_CLASSES[set.images[i].label], `img${String(i).padStart(4, '0')}.png`);
    await sharp(Buffer.from(set.pixels.subarray(i * per, (i + 1) * per)), { raw: { width: set.size, height: set.size, channels: 3 } }).png().toFile(file);
    files.push(file);
  }
  return files;
}

/** The pointing game over explanations of `set`'s images in order: correctly classified ones, and those whose peak is on the square. */
export function pointingGame(explanations: readonly { classIndex: number; peak: { x: number; y: number } }[], set: SquareSet): { correct: number; hits: number } {
  let correct = 0;
  let hits = 0;
  explanations.forEach((e, i) => {
    const image = set.images[i];
    if (e.classIndex !== image.label) return;
    correct += 1;
    if (pointsAtSquare(image, e.peak.x, e.peak.y)) hits += 1;
  });
  return { correct, hits };
}
