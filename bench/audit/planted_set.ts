// A planted 10-class image set for the audit bench (issue #24): Fashion-MNIST images (Debian's
// dataset-fashion-mnist, MIT) written as 96 px PNG files in class folders, with known problems:
// a fraction of the training labels flipped (the file put in another class's folder) and some test images
// copied into train upscaled 1.25x and re-encoded as JPEG. Returns the ground truth.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { Random } from '../../src/core/random.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_CLASSES = ['tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'];

function readIdx(file: string): { data: Uint8Array; dims: number[] } {
  const bytes = gunzipSync(readFileSync(file));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rank = bytes[3];
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  return { data: bytes.subarray(4 + 4 * rank), dims };
}

export interface PlantedSetOptions {
  trainPerClass?: number;
  testPerClass?: number;
  flipFraction?: number;
  copies?: number;
  size?: number;
  seed?: number;
}

export interface PlantedSet {
  trainDir: string;
  testDir: string;
  /** Training files ('class/name') whose folder is not their true class. */
  flipped: Set<string>;
  /** Cross-split copies: train 'class/name' -> test 'class/name'. */
  copies: Map<string, string>;
  trainImages: number;
  testImages: number;
}

async function writeDigit(pixels: Uint8Array, size: number, file: string, jpegScale?: number): Promise<void> {
  const img = sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).resize(size, size, { kernel: 'lanczos3' }).toColourspace('srgb');
  if (jpegScale) {
    const png = await img.png().toBuffer();
    const bigger = Math.round(size * jpegScale);
    await sharp(png).resize(bigger, bigger, { kernel: 'cubic' }).jpeg({ quality: 85 }).toFile(file);
  } else {
    await img.png().toFile(file);
  }
}

export async function makePlantedSet(root: string, options: PlantedSetOptions = {}): Promise<PlantedSet> {
  const trainPerClass = options.trainPerClass ?? 200;
  const testPerClass = options.testPerClass ?? 50;
  const size = options.size ?? 96;
  const rng = new Random(options.seed ?? 24);
  const images = readIdx(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')).data;
  const labels = readIdx(join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz')).data;
  const testImages = readIdx(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')).data;
  const testLabels = readIdx(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz')).data;
  const pick = (lab: Uint8Array, perClass: number): number[] => {
    const out: number[] = [];
    const seen = new Array(10).fill(0);
    for (let i = 0; i < lab.length && out.length < perClass * 10; i++) if (seen[lab[i]] < perClass) (seen[lab[i]]++, out.push(i));
    return out;
  };
  const trainDir = join(root, 'train');
  const testDir = join(root, 'test');
  for (const c of FASHION_CLASSES) {
    mkdirSync(join(trainDir, c), { recursive: true });
    mkdirSync(join(testDir, c), { recursive: true });
  }
  const trainIdx = pick(labels, trainPerClass);
  const flips = Math.round((options.flipFraction ?? 0.05) * trainIdx.length);
  const order = trainIdx.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const flipSet = new Set(order.slice(0, flips));
  const flipped = new Set<string>();
  const jobs: Promise<void>[] = [];
  trainIdx.forEach((src, k) => {
    const truth = labels[src];
    const given = flipSet.has(k) ? (truth + 1 + rng.int(9)) % 10 : truth;
    const name = `${FASHION_CLASSES[given]}/fm_${src}.png`;
    if (given !== truth) flipped.add(name);
    jobs.push(writeDigit(images.subarray(src * 784, (src + 1) * 784), size, join(trainDir, name)));
  });
  const testIdx = pick(testLabels, testPerClass);
  const copies = new Map<string, string>();
  const copyOrder = testIdx.map((_, i) => i);
  for (let i = copyOrder.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [copyOrder[i], copyOrder[j]] = [copyOrder[j], copyOrder[i]];
  }
  const copied = new Set(copyOrder.slice(0, options.copies ?? 30));
  testIdx.forEach((src, k) => {
    const cls = FASHION_CLASSES[testLabels[src]];
    const name = `${cls}/test_${src}.png`;
    const pixels = testImages.subarray(src * 784, (src + 1) * 784);
    jobs.push(writeDigit(pixels, size, join(testDir, name)));
    if (copied.has(k)) {
      const copyName = `${cls}/copy_${src}.jpg`;
      copies.set(copyName, name);
      jobs.push(writeDigit(pixels, size, join(trainDir, copyName), 1.25));
    }
  });
  await Promise.all(jobs);
  return { trainDir, testDir, flipped, copies, trainImages: trainIdx.length + copies.size, testImages: testIdx.length };
}
