// Synthetic pooled features for bench/probe.ts and the probe's tests: ReLU of a random rank-64
// projection of class-dependent latent vectors (non-negative, correlated, classes overlapping), like
// the pooled output of a CNN backbone. Deterministic: the seed gives the rows, the shared structure is fixed.
import { Random } from '../src/core/random.js';
import type { DenseRows } from '../src/train/probes/linear_probe.js';

/** `n` float32 rows of `d` features and their labels (row i has class i mod classes). */
export function syntheticFeatures(n: number, d: number, classes: number, seed: number): { rows: DenseRows; labels: Int32Array } {
  const rank = 64;
  const rng = new Random(20261207);
  const gauss = (r: Random) => Math.sqrt(-2 * Math.log(1 - r.random())) * Math.cos(2 * Math.PI * r.random());
  // Shared by training and held-out sets (same seed): the projection and the class centres.
  const projection = Float32Array.from({ length: d * rank }, () => gauss(rng) / Math.sqrt(rank));
  const centres = Float32Array.from({ length: classes * rank }, () => gauss(rng) * 0.35);
  const offset = Float32Array.from({ length: d }, () => gauss(rng) * 0.3);
  const rows = new Float32Array(n * d);
  const labels = new Int32Array(n);
  const sample = new Random(seed);
  const latent = new Float32Array(rank);
  for (let i = 0; i < n; i++) {
    const y = i % classes;
    labels[i] = y;
    for (let r = 0; r < rank; r++) latent[r] = centres[y * rank + r] + gauss(sample);
    for (let j = 0; j < d; j++) {
      let v = offset[j] + 0.3 * gauss(sample);
      for (let r = 0; r < rank; r++) v += projection[j * rank + r] * latent[r];
      rows[i * d + j] = v > 0 ? v : 0;
    }
  }
  return { rows: { x: rows, n, d }, labels };
}

