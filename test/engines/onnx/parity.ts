// Test helpers: deterministic random weights (non-trivial BatchNorm statistics included) and a
// tfjs-vs-onnxruntime comparison. Not a test file itself.
import assert from 'node:assert/strict';
import { tf, tfl } from '../../../src/engines/tfjs/tf.js';
import { exportOnnx, type ExportOnnxOptions } from '../../../src/engines/onnx/export.js';
import { createOnnxRunner } from '../../../src/engines/onnx/session.js';
/**
 * A small seeded PRNG (mulberry32), so every run sees the same weights and inputs. The tests' own: the
 * gradient tests' random weights were chosen with this stream (ReLU inputs away from the kink, see
 * test/engines/onnx/training/gradients_zoo.test.ts), so it must not follow changes to the library's RNG.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(size: number, random: () => number, low: number, high: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = low + (high - low) * random();
  return out;
}

/**
 * Overwrites every weight with seeded values: kernels uniform with variance ~1/fan-in (activations
 * stay O(1) through deep nets), BN gamma and moving variance in [0.5, 1.5], biases, beta and moving
 * mean in [-0.2, 0.2].
 */
export function randomizeWeights(model: tfl.LayersModel, seed = 1): void {
  const random = seededRandom(seed);
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const name = w.originalName ?? w.name;
      const size = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
      if (w.dtype !== 'float32') return tf.zeros(w.shape as number[], w.dtype);
      let data: Float32Array;
      if (/(gamma|moving_variance|variance)$/.test(name)) data = randomArray(size, random, 0.5, 1.5);
      else if (/(bias|beta|moving_mean|mean)$/.test(name)) data = randomArray(size, random, -0.2, 0.2);
      else {
        // Kernels: fan-in = every axis but the output one (depthwise: the spatial axes only).
        const shape = w.shape as number[];
        const depthwise = /depthwise/.test(name);
        const fanIn = depthwise ? shape[0] * shape[1] : shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const limit = Math.sqrt(3 / Math.max(fanIn, 1));
        data = randomArray(size, random, -limit, limit);
      }
      return tf.tensor(data, w.shape as number[]);
    });
    layer.setWeights(values);
    for (const v of values) v.dispose();
  }
}

export function randomInput(shape: number[], seed = 7, low = -1, high = 1): tf.Tensor {
  return tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), seededRandom(seed), low, high), shape);
}

export interface ParityResult {
  maxAbsDiff: number;
  maxAbsRef: number;
}

/** Max |a - b| and max |b| over two same-shaped tensors. */
export function compare(actual: tf.Tensor, expected: tf.Tensor): ParityResult {
  assert.deepEqual(actual.shape, expected.shape, 'output shapes differ');
  const a = actual.dataSync();
  const b = expected.dataSync();
  let maxAbsDiff = 0;
  let maxAbsRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[i] - b[i]));
    maxAbsRef = Math.max(maxAbsRef, Math.abs(b[i]));
  }
  if (Number.isNaN(maxAbsDiff)) maxAbsDiff = Infinity;
  return { maxAbsDiff, maxAbsRef };
}

/** Tolerance 1e-4, relative to the output's magnitude when that exceeds 1. */
export function assertClose(actual: tf.Tensor, expected: tf.Tensor, what: string, tolerance = 1e-4): ParityResult {
  const result = compare(actual, expected);
  const limit = tolerance * Math.max(1, result.maxAbsRef);
  assert.ok(result.maxAbsDiff <= limit, `${what}: max |onnx - tfjs| = ${result.maxAbsDiff} > ${limit} (max |tfjs| = ${result.maxAbsRef})`);
  return result;
}

/** Exports `model`, runs both engines on `input` and asserts they agree within 1e-4. */
export async function assertOnnxMatchesTfjs(
  model: tfl.LayersModel,
  input: tf.Tensor,
  what: string,
  options: ExportOnnxOptions = {},
): Promise<ParityResult> {
  const bytes = await exportOnnx(model, options);
  const runner = await createOnnxRunner(bytes);
  try {
    const expected = model.predict(input) as tf.Tensor;
    const actual = await runner.run(input);
    const result = assertClose(actual, expected, what);
    tf.dispose([actual, expected]);
    return result;
  } finally {
    await runner.dispose();
  }
}
