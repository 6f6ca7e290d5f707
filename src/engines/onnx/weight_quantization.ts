// Symmetric 8-bit weights for the QDQ model, and the one constraint that makes int8 weights fast and
// exact on x86 CPUs without VNNI. There onnxruntime's u8 x s8 GEMM (MLAS, AVX2) multiplies uint8
// activations by int8 weights with VPMADDUBSW, which adds each pair of neighbouring products along the
// reduction axis (K) in saturating 16-bit arithmetic: 255 x (|w0| + |w1|) must stay within 32767, so two
// neighbouring weights of the same sign may sum to at most 128 in magnitude (opposite signs cannot
// overflow). Full-range weights break that (MobileNetV2 lost 3.7 points of accuracy to it); 7-bit
// weights (onnxruntime's reduce_range) keep it by halving every step (11.6 points). `pairSafe` keeps the
// full 8 bits and enforces the pair limit where it binds, choosing per scale group the range that
// minimises the squared weight error (docs/deployment-quantization.md).
import type { OnnxTypes } from './graph_builder.js';
import { intAttribute } from './onnx_graph.js';

/** The largest pair sum VPMADDUBSW keeps exact. */
export const INT16_MAX = 32767;

/**
 * For each output channel of a weighted node's weight, the flat indices of its values in the order
 * onnxruntime's integer GEMM reduces them: a Conv runs channels-last (NHWC), so K is (kh, kw, c); a
 * Dense weight reduces over its K axis.
 */
export function kAxisOrder(n: OnnxTypes.INodeProto, dims: readonly number[]): KAxis[] {
  if (n.opType === 'Conv') {
    const [m, cg] = dims;
    const perGroup = m / intAttribute(n, 'group', 1);
    const spatial = dims.slice(2).reduce((a, b) => a * b, 1);
    return Array.from({ length: m }, (_, o) => {
      const index = new Int32Array(cg * spatial);
      const inputChannel = new Int32Array(cg * spatial);
      const first = Math.floor(o / perGroup) * cg;
      let k = 0;
      for (let s = 0; s < spatial; s++) {
        for (let c = 0; c < cg; c++, k++) {
          index[k] = (o * cg + c) * spatial + s;
          inputChannel[k] = first + c;
        }
      }
      return { index, inputChannel };
    });
  }
  // Gemm B is [K, N] ([N, K] with transB); MatMul B is [K, N].
  const transB = n.opType === 'Gemm' && intAttribute(n, 'transB', 0) === 1;
  const [rows, cols] = dims.length === 2 ? dims : [dims.slice(0, -1).reduce((a, b) => a * b, 1), dims[dims.length - 1]];
  const [outputs, k] = transB ? [rows, cols] : [cols, rows];
  return Array.from({ length: outputs }, (_, o) => ({
    index: Int32Array.from({ length: k }, (_, i) => (transB ? o * k + i : i * outputs + o)),
    inputChannel: Int32Array.from({ length: k }, (_, i) => i),
  }));
}

/** One output channel's weights along K: their flat indices, and the input channel each one multiplies. */
export interface KAxis {
  index: Int32Array;
  inputChannel: Int32Array;
}

export interface WeightQuantizationOptions {
  /** Largest |q|: 127 (8 bits) or 63 (7 bits, reduce range). */
  qmax: number;
  /** Keep every same-sign pair of neighbours along K from overflowing 16 bits (see the file comment). */
  pairSafe: boolean;
  /**
   * With pairSafe: the largest uint8 code of each input channel (calibration's per-channel maxima at
   * the input's scale and zero point). Default 255 for every channel: |w0| + |w1| <= 128.
   */
  inputCodeMax?: ArrayLike<number>;
}

/**
 * Quantizes `w` to symmetric int8, one scale per output channel (`perChannel`) or one for the tensor;
 * `order` lists each output channel's flat indices along K (kAxisOrder).
 */
export function quantizeWeightValues(w: Float32Array, order: readonly KAxis[], perChannel: boolean, options: WeightQuantizationOptions): { q: Int8Array; scales: Float32Array } {
  const q = new Int8Array(w.length);
  const maxAbs = order.map(({ index }) => index.reduce((m, i) => Math.max(m, Math.abs(w[i])), 0));
  const groups = perChannel ? order.map((_, c) => [c]) : [order.map((_, c) => c)];
  const scales = new Float32Array(groups.length);
  groups.forEach((channels, g) => {
    const max = channels.reduce((m, c) => Math.max(m, maxAbs[c]), 0);
    if (!(max > 0)) {
      scales[g] = 1;
      return;
    }
    let best = { scale: max / options.qmax, error: Infinity };
    // Fewer levels only pay when the pair limit binds: try each range from qmax down to half of it.
    const lowest = options.pairSafe ? Math.ceil(options.qmax / 2) : options.qmax;
    for (let levels = options.qmax; levels >= lowest; levels--) {
      const scale = Math.fround(max / levels);
      let error = 0;
      let clipped = false;
      for (const c of channels) {
        const r = quantizeChannel(w, order[c], scale, options, q);
        error += r.error;
        clipped ||= r.clipped;
      }
      if (error < best.error) best = { scale, error };
      if (!clipped) break; // a coarser grid cannot beat a range that needed no pair limited
    }
    scales[g] = best.scale;
    for (const c of channels) quantizeChannel(w, order[c], best.scale, options, q);
  });
  return { q, scales };
}

/** Writes one channel's int8 values into `q`; returns its squared error and whether a pair was limited. */
function quantizeChannel(w: Float32Array, axis: KAxis, scale: number, options: WeightQuantizationOptions, q: Int8Array): { error: number; clipped: boolean } {
  const { qmax } = options;
  const { index, inputChannel } = axis;
  const round = (u: number) => Math.max(-qmax, Math.min(qmax, Math.round(u)));
  const code = (k: number) => Math.max(1, options.inputCodeMax?.[inputChannel[k]] ?? 255);
  let error = 0;
  let clipped = false;
  for (let k = 0; k < index.length; k += 2) {
    const i = index[k];
    const u0 = w[i] / scale;
    let q0 = round(u0);
    if (k + 1 === index.length) {
      q[i] = q0;
      error += (w[i] - q0 * scale) ** 2;
      continue;
    }
    const j = index[k + 1];
    const u1 = w[j] / scale;
    let q1 = round(u1);
    const [a0, a1] = [code(k), code(k + 1)];
    if (options.pairSafe && Math.sign(q0) === Math.sign(q1) && a0 * Math.abs(q0) + a1 * Math.abs(q1) > INT16_MAX) {
      // The magnitudes nearest to (|u0|, |u1|) on the line a0 x0 + a1 x1 = INT16_MAX, rounded inside it.
      clipped = true;
      const t = (a0 * Math.abs(u0) + a1 * Math.abs(u1) - INT16_MAX) / (a0 * a0 + a1 * a1);
      const x0 = Math.max(0, Math.min(qmax, Math.floor(INT16_MAX / a0), Math.round(Math.abs(u0) - t * a0)));
      const x1 = Math.max(0, Math.min(qmax, Math.floor((INT16_MAX - a0 * x0) / a1), Math.round(Math.abs(u1) - t * a1)));
      const sign = Math.sign(q0);
      q0 = sign * x0;
      q1 = sign * x1;
    }
    q[i] = q0;
    q[j] = q1;
    error += (w[i] - q0 * scale) ** 2 + (w[j] - q1 * scale) ** 2;
  }
  return { error, clipped };
}
