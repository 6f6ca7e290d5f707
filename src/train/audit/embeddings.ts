// Embedding rows for the audit's neighbour searches: standardised, projected to a few dimensions and
// unit-normalised, so a dot product is a cosine and a brute-force neighbour search over thousands of
// images takes a fraction of a second. The projection is a seeded Gaussian one (Johnson-Lindenstrauss):
// it keeps cosines to within a few hundredths at 128 dimensions, which ranking neighbours tolerates;
// exact cosines (duplicate confirmation) use the full rows.
import { Random } from '../../core/random.js';
import { standardize, standardizer, type DenseRows } from '../probes/linear_probe.js';

/** Rows scaled to unit length (zero rows stay zero), in Float32 for the inner loops. */
export function unitRows(data: DenseRows): Float32Array {
  const { x, n, d } = data;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j] * x[i * d + j];
    const scale = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) out[i * d + j] = x[i * d + j] * scale;
  }
  return out;
}

/** x [n, d] times a seeded Gaussian [d, r] / sqrt(r). */
export function randomProjection(data: DenseRows, r: number, seed: number): DenseRows {
  const { x, n, d } = data;
  if (r >= d) return data;
  const rng = new Random(seed, 0x70726f6a);
  const p = new Float64Array(d * r);
  for (let i = 0; i < p.length; i += 2) {
    // Box-Muller: two normals per draw.
    const u = Math.max(rng.random(), 1e-300);
    const v = rng.random();
    const m = Math.sqrt(-2 * Math.log(u)) / Math.sqrt(r);
    p[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < p.length) p[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  const out = new Float64Array(n * r);
  for (let i = 0; i < n; i++) {
    const o = i * r;
    for (let j = 0; j < d; j++) {
      const v = x[i * d + j];
      if (v === 0) continue;
      const pj = j * r;
      for (let c = 0; c < r; c++) out[o + c] += v * p[pj + c];
    }
  }
  return { x: out, n, d: r };
}

export interface NeighbourSpace {
  /** Unit rows [n, dims]. */
  unit: Float32Array;
  n: number;
  dims: number;
}

/** Standardise (per feature, on all rows), project to `dims` and unit-normalise. */
export function neighbourSpace(data: DenseRows, dims = 128, seed = 1234): NeighbourSpace {
  return unitSpace(projectStandardized(data, dims, seed));
}

/** Standardised (per feature, on all rows) and projected to `dims` (fewer features: as they are). */
export function projectStandardized(data: DenseRows, dims: number, seed = 1234): DenseRows {
  return randomProjection(standardize(data, standardizer(data)), dims, seed);
}

/** The first `dims` columns of projected rows, unit-normalised (a narrower Gaussian projection of the same rows). */
export function unitSpace(projected: DenseRows, dims = projected.d): NeighbourSpace {
  const d = Math.min(dims, projected.d);
  if (d === projected.d) return { unit: unitRows(projected), n: projected.n, dims: d };
  const x = new Float64Array(projected.n * d);
  for (let i = 0; i < projected.n; i++) x.set(projected.x.subarray(i * projected.d, i * projected.d + d), i * d);
  return { unit: unitRows({ x, n: projected.n, d }), n: projected.n, dims: d };
}

/** Rows side by side: [n, d1 + d2 + ...] (the same images seen by several backbones). */
export function concatRows(parts: DenseRows[]): DenseRows {
  const n = parts[0].n;
  const d = parts.reduce((a, p) => a + p.d, 0);
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let at = i * d;
    for (const p of parts) {
      x.set(p.x.subarray(i * p.d, (i + 1) * p.d), at);
      at += p.d;
    }
  }
  return { x, n, d };
}

export interface Neighbours {
  k: number;
  /** [n, k] row indices, nearest first. */
  index: Int32Array;
  /** [n, k] cosine similarities. */
  similarity: Float32Array;
}

/**
 * The k nearest rows of every query row among the reference rows by cosine (brute force, O(n m dims)).
 * With `self` the query and reference are the same set and a row is not its own neighbour.
 */
export function nearestNeighbours(query: NeighbourSpace, reference: NeighbourSpace, k: number, self: boolean): Neighbours {
  const { n, dims } = query;
  const m = reference.n;
  const kk = Math.max(0, Math.min(k, m - (self ? 1 : 0)));
  const index = new Int32Array(n * kk).fill(-1);
  const similarity = new Float32Array(n * kk).fill(-Infinity);
  const q = query.unit;
  const r = reference.unit;
  const sims = new Float32Array(m);
  for (let i = 0; i < n; i++) {
    const qi = i * dims;
    for (let j = 0; j < m; j++) {
      const rj = j * dims;
      let s = 0;
      for (let c = 0; c < dims; c++) s += q[qi + c] * r[rj + c];
      sims[j] = s;
    }
    if (self) sims[i] = -Infinity;
    // Insertion into a small sorted list: k is small (10-20).
    const base = i * kk;
    for (let j = 0; j < m; j++) {
      const s = sims[j];
      if (kk === 0 || s <= similarity[base + kk - 1]) continue;
      let p = kk - 1;
      while (p > 0 && similarity[base + p - 1] < s) {
        similarity[base + p] = similarity[base + p - 1];
        index[base + p] = index[base + p - 1];
        p--;
      }
      similarity[base + p] = s;
      index[base + p] = j;
    }
  }
  return { k: kk, index, similarity };
}
