// Tiny models and generated datasets for the training tests (small enough to train in seconds on cpu/wasm).
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { loadModel } from '../../src/weights/saved_model.js';

/**
 * Two classes of 8x8x3 images: class 1 has a bright square in its top-left quadrant, class 0 in the
 * bottom-right; plus noise. Learnable by a small convnet in a few epochs.
 */
export function squaresDataset(n: number, seed = 1, size = 8): { x: tf.Tensor4D; y: tf.Tensor1D } {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return (s >>> 8) / 16777216;
  };
  const data = new Float32Array(n * size * size * 3);
  const labels = new Float32Array(n);
  const half = size / 2;
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    labels[i] = label;
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const inSquare = label === 1 ? r < half && c < half : r >= half && c >= half;
        for (let ch = 0; ch < 3; ch++) data[((i * size + r) * size + c) * 3 + ch] = (inSquare ? 0.8 : 0) + rand() * 0.4 - 0.2;
      }
    }
  }
  return { x: tf.tensor4d(data, [n, size, size, 3]), y: tf.tensor1d(labels) };
}

/** Conv -> BN -> ReLU -> GAP -> Dropout -> Dense(units): seeded initialisers so two builds are equal. */
export function tinyConvNet(options: { units?: number; activation?: 'softmax' | 'sigmoid'; size?: number; seed?: number } = {}): tfl.LayersModel {
  const seed = options.seed ?? 7;
  const size = options.size ?? 8;
  const input = tfl.input({ shape: [size, size, 3] });
  let h = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }).apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.batchNormalization().apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.activation({ activation: 'relu' }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.dropout({ rate: 0.25 }).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({ units: options.units ?? 2, activation: options.activation ?? 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) })
    .apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

export async function weightsOf(model: tfl.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.weights.map(async (w) => Float32Array.from(await w.read().data())));
}

export function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((arr, i) => arr.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

/** Largest weight difference between the models saved in two run directories (e.g. uninterrupted vs resumed). */
export async function savedWeightsDiff(runA: string, runB: string): Promise<number> {
  const a = await loadModel(runA);
  const b = await loadModel(runB);
  try {
    return maxAbsDiff(await weightsOf(a.model), await weightsOf(b.model));
  } finally {
    a.model.dispose();
    b.model.dispose();
  }
}

/** Writes `n` PNG images of the squares problem (size x size) into root/bottom and root/top. */
export async function writeSquaresFolder(root: string, n: number, size = 32, seed = 1): Promise<void> {
  const { default: sharp } = await import('sharp');
  const fs = await import('node:fs/promises');
  await initEngine();
  const { x, y } = squaresDataset(n, seed, size);
  const pixels = x.dataSync();
  const labels = y.dataSync();
  const per = size * size * 3;
  for (let i = 0; i < n; i++) {
    const cls = labels[i] === 1 ? 'top' : 'bottom';
    await fs.mkdir(`${root}/${cls}`, { recursive: true });
    // Values are about -0.2..1.0; map them to 0-255 the way 'tf' preprocessing maps back to -1..1.
    const raw = Buffer.from(Array.from(pixels.subarray(i * per, (i + 1) * per), (v) => Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)))));
    await sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toFile(`${root}/${cls}/img${String(i).padStart(3, '0')}.png`);
  }
  tf.dispose([x, y]);
}
