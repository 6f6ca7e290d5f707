// Throughput of the data pipeline: flowFromDirectory at 224 with the reference augmentation (rotation 20,
// shifts 0.1, shear 0.1, zoom 0.1, horizontal flip, brightness 0.8-1.2, rescale 1/255) and with none,
// on the main thread (workers 0) and with 1 and 2 worker threads; decoding every file every epoch
// (cacheBytes 0) and with the decoded pixels kept in memory (the default: later epochs only transform); then the same work done the
// Keras way (PIL + scipy.ndimage.affine_transform, bench/augment_reference.py, decoding every epoch)
// and the ratios.
// Run: npx tsx bench/augment.ts [--images 200] [--epochs 2]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initEngine, tf } from '../src/engines/tfjs/tf.js';
import { ImageDataGenerator, type ImageDataGeneratorOptions } from '../src/data/image_data_generator.js';
import { numberFlag } from './flags.js';

const IMAGES = numberFlag('images', 200);
const EPOCHS = numberFlag('epochs', 2);

const reference: ImageDataGeneratorOptions = {
  rotationRange: 20,
  widthShiftRange: 0.1,
  heightShiftRange: 0.1,
  shearRange: 0.1,
  zoomRange: 0.1,
  horizontalFlip: true,
  brightnessRange: [0.8, 1.2],
  rescale: 1 / 255,
};

async function makeImages(dir: string): Promise<void> {
  // Photo-like content (smooth gradients + noise) so JPEG sizes and decode times are realistic.
  const w = 500;
  const h = 375;
  for (const cls of ['cats', 'dogs']) mkdirSync(join(dir, cls), { recursive: true });
  for (let k = 0; k < IMAGES; k++) {
    const px = Buffer.alloc(w * h * 3);
    let s = k * 2654435761;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        s = (s * 1103515245 + 12345) >>> 0;
        const n = (s >>> 24) % 32;
        const i = (y * w + x) * 3;
        px[i] = (x * 255) / w / 2 + n + ((k * 13) % 60);
        px[i + 1] = (y * 255) / h / 2 + n;
        px[i + 2] = ((x + y) * 255) / (w + h) / 2 + n + ((k * 7) % 50);
      }
    }
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toFile(join(dir, k % 2 ? 'dogs' : 'cats', `${k}.jpg`));
  }
}

interface Figures {
  /** Images per wall-clock second. */
  ips: number;
  /** CPU milliseconds (all threads of the process) per image: the figure that a busy machine distorts least. */
  cpuMs: number;
}

interface Measured {
  /** Every epoch reads and decodes every file (cacheBytes 0), as Keras does. */
  decoding: Figures;
  /** Epochs after the first: the decoded pixels kept in memory (flowFromDirectory's default cacheBytes), only transformed. */
  kept: Figures;
}

async function drainEpoch(it: ReturnType<ImageDataGenerator['flowFromDirectory']>): Promise<number> {
  let n = 0;
  for await (const b of it.epochBatches()) {
    n += b.indices.length;
    tf.dispose([b.x, b.y!]);
  }
  return n;
}

/** EPOCHS epochs after a first, untimed one (JIT, worker start-up, the OS file cache; and filling the pixel cache). */
async function steadyEpochs(dir: string, options: ImageDataGeneratorOptions, workers: number, cacheBytes?: number): Promise<Figures> {
  const it = new ImageDataGenerator(options).flowFromDirectory(dir, { targetSize: [224, 224], batchSize: 32, seed: 1, workers, cacheBytes });
  await drainEpoch(it);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  for (let e = 0; e < EPOCHS; e++) n += await drainEpoch(it);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  await it.close();
  return { ips: n / seconds, cpuMs: (cpu.user + cpu.system) / 1000 / n };
}

async function measure(dir: string, options: ImageDataGeneratorOptions, workers: number): Promise<Measured> {
  return { decoding: await steadyEpochs(dir, options, workers, 0), kept: await steadyEpochs(dir, options, workers) };
}

async function main(): Promise<void> {
  await initEngine();
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-bench-augment-'));
  try {
    await makeImages(dir);
    const rows: [string, number, Measured][] = [];
    const show = (f: Figures) => `${f.ips.toFixed(0).padStart(5)} img/s ${f.cpuMs.toFixed(2).padStart(6)} CPU ms/img`;
    for (const [name, options] of [
      ['reference augmentation', reference],
      ['no augmentation (rescale only)', { rescale: 1 / 255 }],
    ] as const) {
      for (const workers of [0, 1, 2]) {
        const m = await measure(dir, options, workers);
        rows.push([name, workers, m]);
        console.log(`tlkit   ${name.padEnd(31)} workers=${workers}  decoding every epoch ${show(m.decoding)} | decoded pixels kept ${show(m.kept)}`);
      }
    }
    let keras: { augment: number; plain: number; augmentCpuMs: number; plainCpuMs: number } | null = null;
    try {
      const out = execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'augment_reference.py'), dir, String(EPOCHS)], { encoding: 'utf8' });
      keras = JSON.parse(out.trim().split('\n').pop()!);
    } catch (error) {
      console.log(`keras-like reference not run: ${(error as Error).message.split('\n')[0]} (needs /usr/bin/python3 with python3-numpy, -scipy, -pil)`);
    }
    if (keras) {
      console.log(`keras-like (PIL + scipy.ndimage) reference augmentation        ${keras.augment.toFixed(0).padStart(5)} img/s  ${keras.augmentCpuMs.toFixed(2).padStart(6)} CPU ms/img (every epoch decodes)`);
      console.log(`keras-like (PIL + scipy.ndimage) no augmentation               ${keras.plain.toFixed(0).padStart(5)} img/s  ${keras.plainCpuMs.toFixed(2).padStart(6)} CPU ms/img`);
      const row = (prefix: string, w: number) => rows.find(([n, workers]) => n.startsWith(prefix) && workers === w)![2];
      for (const w of [0, 1, 2]) {
        const a = row('reference', w);
        const p = row('no augmentation', w);
        const ratio = (f: Figures, ips: number, cpuMs: number) => `${(f.ips / ips).toFixed(1)}x img/s, ${(cpuMs / f.cpuMs).toFixed(1)}x CPU`;
        console.log(
          `ratio tlkit/keras-like, workers=${w}: augmentation decoding ${ratio(a.decoding, keras.augment, keras.augmentCpuMs)}, kept ${ratio(a.kept, keras.augment, keras.augmentCpuMs)}; ` +
            `none decoding ${ratio(p.decoding, keras.plain, keras.plainCpuMs)}, kept ${ratio(p.kept, keras.plain, keras.plainCpuMs)}`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
