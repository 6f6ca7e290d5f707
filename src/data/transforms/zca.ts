// ZCA whitening matrix as Keras's fit computes it (keras/src/legacy/preprocessing/image.py): with X the
// n flattened (already centred) samples, U, s = svd(Xᵀ, full_matrices=False) and
// P = U·diag(sqrt(n) / (s + epsilon))·Uᵀ. The same U and s come from the eigen-decomposition of
// Xᵀ·X = U·diag(s²)·Uᵀ, which is D x D whatever n; only the min(n, D) largest components are kept, as the
// thin SVD keeps them. Cyclic Jacobi: simple and accurate, O(D³) per sweep, which is why the caller
// caps D.

/** Eigen-decomposition of a symmetric n x n matrix (row-major, copied). Returns eigenvalues and column eigenvectors. */
export function symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < n; p++) {
      diag += a[p * n + p] * a[p * n + p];
      for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const app = a[p * n + p];
        const aqq = a[q * n + q];
        const tau = (aqq - app) / (2 * apq);
        const t = Math.sign(tau || 1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

/** Principal components (D x D, row-major float32) from `samples` holding n flattened samples of D values. */
export function fitZca(samples: Float32Array, n: number, d: number, epsilon: number): Float32Array {
  const sigma = new Float64Array(d * d);
  for (let s = 0; s < n; s++) {
    const base = s * d;
    for (let i = 0; i < d; i++) {
      const xi = samples[base + i];
      if (xi === 0) continue;
      const row = i * d;
      for (let j = i; j < d; j++) sigma[row + j] += xi * samples[base + j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) sigma[j * d + i] = sigma[i * d + j];
  const { values, vectors } = symmetricEigen(sigma, d);
  // Thin SVD: the min(n, d) largest singular values s = sqrt(eigenvalue of XᵀX); the rest are dropped.
  const order = Array.from({ length: d }, (_, k) => k).sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]));
  const scale = new Float64Array(d);
  const keep = Math.min(n, d);
  for (let r = 0; r < keep; r++) {
    const k = order[r];
    scale[k] = Math.sqrt(n) / (Math.sqrt(Math.abs(values[k])) + epsilon);
  }
  const p = new Float32Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let acc = 0;
      for (let k = 0; k < d; k++) acc += vectors[i * d + k] * scale[k] * vectors[j * d + k];
      p[i * d + j] = acc;
    }
  }
  return p;
}
