// End to end, the reference experiment's shape with a frozen backbone: MobileNetV2 at 224 + the reference head
// (Flatten -> Dense(16, relu) -> Dropout(0.25) -> Dense(2)), 5 epochs over 1,000 images, with and without the
// reference augmentation, timed through tlkit's trainRun (decode, augmentation, frozen part on onnxruntime with
// features cached when nothing is augmented, head on tfjs) and through the same job in PyTorch (Debian's
// python3-torch + torchvision, 2 threads) in the same run. Prints img/s and the ratio.
//
//   npx tsx bench/e2e.ts [--images 1000] [--epochs 5] [--no-torch]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { trainRun } from '../src/train/run/run.js';
import { numberFlag, hasFlag } from './flags.js';

const IMAGES = numberFlag('images', 1000);
const EPOCHS = numberFlag('epochs', 5);
const WITH_TORCH = !hasFlag('no-torch');
const AUGMENTATION = { rotationRange: 20, widthShiftRange: 0.1, heightShiftRange: 0.1, shearRange: 0.1, zoomRange: 0.1, horizontalFlip: true, brightnessRange: [0.8, 1.2] };

async function makeImages(dir: string): Promise<void> {
  for (const [c, name] of ['cats', 'dogs'].entries()) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < IMAGES / 2; i++) {
      // Photo-sized JPEGs with class-dependent colour and a little texture.
      const w = 500;
      const h = 375;
      const raw = Buffer.alloc(w * h * 3);
      for (let p = 0; p < w * h; p++) {
        const v = (p * 2654435761 + i * 97) >>> 24;
        raw[p * 3] = c ? 60 + (v & 63) : 180 + (v & 63);
        raw[p * 3 + 1] = 100 + ((v * 3) & 63);
        raw[p * 3 + 2] = c ? 180 + (v & 63) : 60 + (v & 63);
      }
      await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toFile(join(dir, name, `${i}.jpg`));
    }
  }
}

async function tlkitRun(dir: string, augment: boolean): Promise<{ seconds: number; imgPerSec: number; engine: string }> {
  const out = mkdtempSync(join(tmpdir(), 'tlkit-e2e-run-'));
  try {
    const started = performance.now();
    const result = await trainRun({
      dataDir: dir, backbone: 'mobilenet_v2', weights: 'nsfwjs', inputSize: 224, head: 'flatten,dense:16:relu,dropout:0.25',
      classMode: 'sparse', epochs: EPOCHS, batchSize: 32, freezeBackbone: true, learningRate: 1e-3, seed: 1,
      augmentation: augment ? AUGMENTATION : undefined, outDir: out,
    });
    const seconds = (performance.now() - started) / 1000;
    return { seconds, imgPerSec: (IMAGES * EPOCHS) / seconds, engine: result.engine };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function torchRun(dir: string, augment: boolean): { seconds: number; img_s: number } {
  const out = execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'e2e_torch.py'), dir, '--epochs', String(EPOCHS), ...(augment ? ['--augment'] : [])], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

const dir = mkdtempSync(join(tmpdir(), 'tlkit-e2e-data-'));
try {
  await makeImages(dir);
  console.log(`${IMAGES} JPEGs 500x375 -> 224, ${EPOCHS} epochs, frozen mobilenet_v2 + Flatten-Dense16-Dropout-Dense2, batch 32`);
  for (const augment of [false, true]) {
    const label = augment ? 'with augmentation   ' : 'without augmentation';
    const t = await tlkitRun(dir, augment);
    let line = `${label}  tlkit ${t.imgPerSec.toFixed(1)} img/s (${t.seconds.toFixed(1)} s, engine ${t.engine})`;
    if (WITH_TORCH) {
      const p = torchRun(dir, augment);
      line += `  pytorch ${p.img_s.toFixed(1)} img/s (${p.seconds.toFixed(1)} s)  ratio ${(t.imgPerSec / p.img_s).toFixed(2)}x`;
    }
    console.log(line);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
