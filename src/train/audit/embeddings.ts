// Embedding rows for the audit's neighbour searches: standardised, projected to a few dimensions and
// unit-normalised, so a dot product is a cosine and a brute-force neighbour search over thousands of
// images takes a fraction of a second. The projection is a seeded random one (Johnson-Lindenstrauss):
// it keeps cosines to within a few hundredths at 128 dimensions, which ranking neighbours tolerates.
import { Random } from '../../core/random.js';
import { standardize, standardizer, standardizerOfParts, type DenseRows } from '../probes/linear_probe.js';
import { topKDotProducts } from '../../engines/onnx/top_k_cosine_graph.js';

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

/**
 * x [n, d] times a seeded very sparse random matrix [d, r] (Li, Hastie, Church 2006): each entry is
 * +-sqrt(s / r) with probability 1 / (2s) each, else 0, with s = sqrt(d). Distances and dot products
 * are kept as a dense Gaussian projection keeps them, at 1/sqrt(d) of its cost (the projection was
 * the audit's largest cost with a dense matrix).
 */
export function randomProjection(data: DenseRows, r: number, seed: number): DenseRows {
  const { x, n, d } = data;
  if (r >= d) return data;
  const { start, column, sign } = projectionTargets(d, r, seed);
  const scale = Math.sqrt(Math.max(1, Math.sqrt(d)) / r);
  const out = new Float64Array(n * r);
  for (let i = 0; i < n; i++) {
    const o = i * r;
    for (let j = 0; j < d; j++) {
      const v = x[i * d + j] * scale;
      if (v === 0) continue;
      for (let m = start[j]; m < start[j + 1]; m++) out[o + column[m]] += v * sign[m];
    }
  }
  return { x: out, n, d: r };
}

/**
 * randomProjection's matrix by input feature (compressed rows): feature j adds sign[m] times its value
 * to output column[m] for m in start[j]..start[j + 1]. Signs as numbers, not a branch: a random sign is
 * a branch the CPU mispredicts half the time.
 */
function projectionTargets(d: number, r: number, seed: number): { start: Int32Array; column: Int32Array; sign: Float64Array } {
  const rng = new Random(seed, 0x70726f6a);
  const s = Math.max(1, Math.sqrt(d));
  const start = new Int32Array(d + 1);
  const column: number[] = [];
  const sign: number[] = [];
  for (let j = 0; j < d; j++) {
    for (let c = 0; c < r; c++) {
      const u = rng.random() * s;
      if (u < 1) {
        column.push(c);
        sign.push(u < 0.5 ? 1 : -1);
      }
    }
    start[j + 1] = column.length;
  }
  return { start, column: Int32Array.from(column), sign: Float64Array.from(sign) };
}

/**
 * The rows of every part, standardised together (per feature, over all their rows) and projected to
 * `dims`, stacked [sum of n, dims]: projectStandardized of the stacked parts, the same numbers, without
 * the two copies of the features (stacked, then standardised) it makes.
 */
export function projectStandardizedParts(parts: DenseRows[], dims: number, seed = 1234): DenseRows {
  const d = parts[0].d;
  const total = parts.reduce((a, p) => a + p.n, 0);
  if (dims >= d) {
    const x = new Float64Array(total * d);
    let at = 0;
    for (const p of parts) {
      x.set(p.x, at);
      at += p.n * d;
    }
    return projectStandardized({ x, n: total, d }, dims, seed);
  }
  const { mean, scale: inverse } = standardizerOfParts(parts);
  const { start, column, sign } = projectionTargets(d, dims, seed);
  const scale = Math.sqrt(Math.max(1, Math.sqrt(d)) / dims);
  const out = new Float64Array(total * dims);
  let row = 0;
  for (const { x, n } of parts) {
    for (let i = 0; i < n; i++, row++) {
      const o = row * dims;
      for (let j = 0; j < d; j++) {
        const v = (x[i * d + j] - mean[j]) * inverse[j] * scale;
        if (v === 0) continue;
        for (let m = start[j]; m < start[j + 1]; m++) out[o + column[m]] += v * sign[m];
      }
    }
  }
  return { x: out, n: total, d: dims };
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

/** Inserts (j, s) into row i's list of the kk best, kept sorted by similarity; returns the new kk-th best. */
function insert(index: Int32Array, similarity: Float32Array, kk: number, i: number, j: number, s: number): number {
  const base = i * kk;
  let p = kk - 1;
  while (p > 0 && similarity[base + p - 1] < s) {
    similarity[base + p] = similarity[base + p - 1];
    index[base + p] = index[base + p - 1];
    p--;
  }
  similarity[base + p] = s;
  index[base + p] = j;
  return similarity[base + kk - 1];
}

/** Query rows per tile and reference rows per tile: 16 x 128 float32 queries stay in L1 beside 64 reference rows. */
const QUERY_TILE = 16;
const REFERENCE_TILE = 64;

/**
 * The k nearest rows of every query row among the reference rows by cosine (brute force, O(n m dims)).
 * With `self` the query and reference are the same set, a row is not its own neighbour, and each pair's
 * cosine is computed once for both rows. The products run in tiles that stay in cache, four sums at a
 * time; a pair enters a row's list only when it beats the row's k-th best so far (one comparison for
 * almost every pair), so the search is the products' cost.
 */
export function nearestNeighbours(query: NeighbourSpace, reference: NeighbourSpace, k: number, self: boolean): Neighbours {
  const { n, dims } = query;
  const m = reference.n;
  const kk = Math.max(0, Math.min(k, m - (self ? 1 : 0)));
  const index = new Int32Array(n * kk).fill(-1);
  const similarity = new Float32Array(n * kk).fill(-Infinity);
  if (kk === 0) return { k: kk, index, similarity };
  const q = query.unit;
  const r = reference.unit;
  // The k-th best similarity of each row so far (of query rows, and with `self` of reference rows too).
  const floor = new Float64Array(self ? m : n).fill(-Infinity);
  const tail = dims - (dims % 4);
  for (let i0 = 0; i0 < n; i0 += QUERY_TILE) {
    const i1 = Math.min(n, i0 + QUERY_TILE);
    for (let j0 = self ? i0 : 0; j0 < m; j0 += REFERENCE_TILE) {
      const j1 = Math.min(m, j0 + REFERENCE_TILE);
      for (let i = i0; i < i1; i++) {
        const qi = i * dims;
        for (let j = self ? Math.max(j0, i + 1) : j0; j < j1; j++) {
          const rj = j * dims;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          for (let c = 0; c < tail; c += 4) {
            s0 += q[qi + c] * r[rj + c];
            s1 += q[qi + c + 1] * r[rj + c + 1];
            s2 += q[qi + c + 2] * r[rj + c + 2];
            s3 += q[qi + c + 3] * r[rj + c + 3];
          }
          for (let c = tail; c < dims; c++) s0 += q[qi + c] * r[rj + c];
          const s = s0 + s1 + s2 + s3;
          if (s > floor[i]) floor[i] = insert(index, similarity, kk, i, j, s);
          if (self && s > floor[j]) floor[j] = insert(index, similarity, kk, j, i, s);
        }
      }
    }
  }
  return { k: kk, index, similarity };
}

/**
 * nearestNeighbours with the products and the selection on onnxruntime (a Gemm and a TopK per block of
 * query rows): the same lists up to float32 rounding of near-ties, several times faster (0.1 s against
 * 0.7 s for the planted set's 2,530 rows). With `self`, each row's k + 1 best include the row itself
 * (its cosine is 1), which is dropped.
 */
export async function nearestNeighboursOnnx(query: NeighbourSpace, reference: NeighbourSpace, k: number, self: boolean): Promise<Neighbours> {
  const { n, dims } = query;
  const m = reference.n;
  const kk = Math.max(0, Math.min(k, m - (self ? 1 : 0)));
  if (kk === 0 || n === 0) return nearestNeighbours(query, reference, k, self);
  const want = self ? kk + 1 : kk;
  const found = await topKDotProducts(query.unit, n, reference.unit, m, dims, want);
  if (!self) return { k: kk, index: found.indices, similarity: found.values };
  const index = new Int32Array(n * kk);
  const similarity = new Float32Array(n * kk);
  for (let i = 0; i < n; i++) {
    let w = 0;
    let skipped = false;
    for (let t = 0; t < want && w < kk; t++) {
      const j = found.indices[i * want + t];
      if (j === i && !skipped) {
        skipped = true;
        continue;
      }
      index[i * kk + w] = j;
      similarity[i * kk + w] = found.values[i * want + t];
      w++;
    }
  }
  return { k: kk, index, similarity };
}
