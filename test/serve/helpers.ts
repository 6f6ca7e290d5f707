// Small trained-looking runs (random weights) and test images for the serve and web-export tests.
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import sharp from 'sharp';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { buildClassifier } from '../../src/models/classifier.js';
import type { LabelClassMode } from '../../src/core/names.js';
import type { BackboneOptions } from '../../src/models/types.js';
import { saveModel } from '../../src/weights/saved_model.js';

export interface RunSpec {
  backbone: string;
  backboneOptions: BackboneOptions;
  classNames: string[];
  classMode: LabelClassMode;
  preprocess?: 'tf' | 'caffe' | 'torch' | 'none';
  rescale?: number;
}

/**
 * Saves a classifier with random weights as a run directory (RUN/model/). The last Dense kernel is
 * scaled so that the probabilities stay away from 0 and 1 (a saturated softmax would let two engines
 * agree on 0/1 while their logits differ) and away from uniform (a dead net gives 1/n whatever it sees).
 */
export async function makeRun(root: string, spec: RunSpec, kernelScale = 0.2): Promise<string> {
  await initEngine();
  const [h, w] = spec.backboneOptions.inputShape ?? [96, 96];
  const c = buildClassifier({ backbone: spec.backbone, backboneOptions: spec.backboneOptions, classes: spec.classNames.length, classMode: spec.classMode });
  randomizeWeights(c.model, kernelScale);
  await saveModel(join(root, 'model'), c.model, {
    classNames: spec.classNames,
    classMode: spec.classMode,
    preprocess: spec.preprocess ?? c.preprocess,
    rescale: spec.rescale,
    inputSize: [h, w],
    backbone: spec.backbone,
    weightsSource: 'none',
  });
  c.model.dispose();
  return root;
}

/**
 * Seeded random weights that keep activations in range through a deep random net: He-uniform kernels,
 * BatchNorm statistics near identity, Normalization statistics of 0-1 pixels; the last Dense kernel
 * times `lastKernelScale`.
 */
function randomizeWeights(model: tfl.LayersModel, lastKernelScale: number): void {
  let seed = 11;
  const lastKernel = model.layers[model.layers.length - 1].weights[0];
  for (const v of model.weights) {
    const name = v.name.split('/').pop()!.replace(/_\d+$/, '');
    const shape = v.shape as number[];
    const u = (lo: number, hi: number) => tf.randomUniform(shape, lo, hi, 'float32', seed++);
    let value: tf.Tensor;
    if (name === 'kernel' || name === 'depthwise_kernel') {
      const fanIn = name === 'depthwise_kernel' ? shape[0] * shape[1] : shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const limit = Math.sqrt(6 / fanIn) * (v === lastKernel ? lastKernelScale : 1);
      value = u(-limit, limit);
    } else if (name === 'gamma' || name === 'moving_variance') value = u(0.8, 1.2);
    else if (name === 'beta' || name === 'bias' || name === 'moving_mean') value = u(-0.1, 0.1);
    else if (name === 'mean') value = u(0.3, 0.6);
    else if (name === 'variance') value = u(0.04, 0.1);
    else continue;
    v.write(value);
    value.dispose();
  }
}

/** Seeded noise with a gradient, so images differ and resizing matters. */
function pixels(width: number, height: number, channels: number, seed: number): Buffer {
  let s = seed >>> 0;
  const out = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < channels; k++) {
        s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
        out[(y * width + x) * channels + k] = Math.round(((x / width + y / height + k / 3) * 85 + (s >>> 24) / 2) % 256);
      }
    }
  }
  return out;
}

export async function pngImage(width: number, height: number, seed: number, channels: 1 | 3 = 3): Promise<Buffer> {
  return sharp(pixels(width, height, channels, seed), { raw: { width, height, channels } }).png().toBuffer();
}

export async function jpegImage(width: number, height: number, seed: number): Promise<Buffer> {
  return sharp(pixels(width, height, 3, seed), { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** Writes PNGs of assorted sizes (square, wide, tall, one grayscale) into `dir`; returns their paths. */
export async function writeTestImages(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const specs: [string, number, number, 1 | 3][] = [
    ['square.png', 64, 64, 3],
    ['wide.png', 150, 60, 3],
    ['tall.png', 37, 101, 3],
    ['gray.png', 80, 80, 1],
  ];
  const { writeFile } = await import('node:fs/promises');
  const files: string[] = [];
  for (const [i, [name, w, h, ch]] of specs.entries()) {
    const file = join(dir, name);
    await writeFile(file, await pngImage(w, h, i + 1, ch));
    files.push(file);
  }
  return files;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.bin': 'application/octet-stream', '.png': 'image/png' };

/** A static file server for `root` on 127.0.0.1 (a free port), as any static host would serve the export. */
export async function serveStatic(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    readFile(file).then(
      (data) => {
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
        res.end(data);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A 1-bit BMP of width x height (5 MB at 6300 x 6300): tiny on the wire, large once decoded. */
export function bmp1bit(width: number, height: number): Buffer {
  const stride = Math.ceil(width / 32) * 4;
  const offset = 14 + 40 + 8;
  const b = Buffer.alloc(offset + stride * height, 0x55);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(offset, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(1, 28);
  b.writeUInt32LE(0, 30);
  b.writeUInt32LE(2, 46);
  b.writeUInt32LE(0, 54); // palette: black, white
  b.writeUInt32LE(0xffffff, 58);
  return b;
}
