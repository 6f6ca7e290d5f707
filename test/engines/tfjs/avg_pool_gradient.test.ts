// tfjs's AvgPool gradient with 'same' padding divides border windows by the full window size; tlkit's
// replacement divides by the real pixel count, as TensorFlow (and the forward) do. Checked against the
// exact gradient written out by hand, on wasm and cpu.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../../../src/engines/tfjs/tf.js';

before(async () => {
  await initEngine();
});
after(async () => {
  await tf.setBackend('wasm');
});

/** d/dx sum(avgPool(x) * w) for a [1, H, W, 1] input, TF's 'same'/'valid' semantics. */
function exactGradient(h: number, w: number, k: number, s: number, padding: 'same' | 'valid', weights: Float32Array): Float32Array {
  const ho = padding === 'same' ? Math.ceil(h / s) : Math.floor((h - k) / s) + 1;
  const wo = padding === 'same' ? Math.ceil(w / s) : Math.floor((w - k) / s) + 1;
  const top = padding === 'same' ? Math.floor(Math.max((ho - 1) * s + k - h, 0) / 2) : 0;
  const left = padding === 'same' ? Math.floor(Math.max((wo - 1) * s + k - w, 0) / 2) : 0;
  const grad = new Float32Array(h * w);
  for (let i = 0; i < ho; i++) {
    for (let j = 0; j < wo; j++) {
      const r0 = Math.max(i * s - top, 0);
      const r1 = Math.min(i * s - top + k, h);
      const c0 = Math.max(j * s - left, 0);
      const c1 = Math.min(j * s - left + k, w);
      const count = (r1 - r0) * (c1 - c0);
      for (let a = r0; a < r1; a++) for (let b = c0; b < c1; b++) grad[a * w + b] += weights[i * wo + j] / count;
    }
  }
  return grad;
}

describe('AvgPool gradient (TensorFlow semantics)', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    for (const [h, w, k, s, padding] of [
      [5, 5, 3, 1, 'same'],
      [7, 6, 3, 2, 'same'],
      [6, 6, 2, 2, 'same'],
      [7, 7, 3, 2, 'valid'],
    ] as const) {
      it(`${backend}: ${h}x${w}, ${k}x${k} window, stride ${s}, ${padding}`, async () => {
        await tf.setBackend(backend);
        const x = tf.tensor4d(Array.from({ length: h * w }, (_, i) => Math.sin(i)), [1, h, w, 1]);
        const out = tf.avgPool(x, k, s, padding);
        const weights = Float32Array.from({ length: out.size }, (_, i) => ((i * 37) % 11) / 5 - 1);
        const wt = tf.tensor(weights, out.shape);
        const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(v as tf.Tensor4D, k, s, padding), wt)))(x).dataSync();
        const exact = exactGradient(h, w, k, s, padding, weights);
        for (let i = 0; i < exact.length; i++) assert.ok(Math.abs(grad[i] - exact[i]) < 1e-5, `pixel ${i}: ${grad[i]} vs ${exact[i]}`);
        tf.dispose([x, out, wt]);
      });
    }
  }
});
