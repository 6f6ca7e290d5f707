// Bench data from the embedded sample: N JPEGs per folder made from samples/fashion-shoes images, each
// with its own small random crop, brightness and hue change, so every file decodes to different pixels
// (a feature store or decoded-pixel cache cannot cheat on duplicates). Classes are the sample's.
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

const SAMPLE = join(import.meta.dirname, '..', 'samples', 'fashion-shoes');

/** Writes `count` JPEGs of `size` px into dir/<class>/ (split evenly), from the sample's `subset` images. */
export async function writeSampleImages(dir: string, count: number, size: number, seed: number, subset: 'train' | 'test' = 'train'): Promise<void> {
  const classes = readdirSync(join(SAMPLE, subset)).sort();
  let state = seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const sources = classes.map((c) => readdirSync(join(SAMPLE, subset, c)).sort().map((f) => join(SAMPLE, subset, c, f)));
  classes.forEach((c) => mkdirSync(join(dir, c), { recursive: true }));
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const k = i % classes.length;
    const source = sources[k][Math.floor(random() * sources[k].length)];
    const grow = 1 + random() * 0.3;
    const side = Math.round(size * grow);
    const left = Math.floor(random() * (side - size + 1));
    const top = Math.floor(random() * (side - size + 1));
    jobs.push(
      sharp(source)
        .resize(side, side)
        .extract({ left, top, width: size, height: size })
        .modulate({ brightness: 0.85 + random() * 0.3, hue: Math.round(random() * 30 - 15) })
        .jpeg({ quality: 85 })
        .toFile(join(dir, classes[k], `${String(i).padStart(6, '0')}.jpg`)),
    );
    if (jobs.length >= 16) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
}
