// Input and filter gradients of (grouped) 2-D convolutions, NCHW, as plain ONNX ops. Several forms
// compute the same gradient; which one is fastest depends on the op's shape and on onnxruntime's
// kernels (bench/train_onnx.ts measures them), so the form is a setting, and every form is covered by
// the gradient tests.
import type { Ops } from './ops.js';
import type { Geometry } from '../layers/geometry.js';
import { isPointwise } from '../layers/geometry.js';
import { NCHWC_DOMAIN, nchwcBlockSize, nchwcDepthwiseConv, reorderInput } from './nchwc.js';

/**
 * 'auto' picks by stride, from onnxruntime-node 1.30 timings on this machine (N16, bench micro-runs):
 * stride 1 -> 'flipped-conv' (3x3 64->64 at 56: 45 ms vs ConvTranspose 98 ms); stride 2 ->
 * 'conv-transpose' (the zero-interleaving Pad is slow: depthwise C96 112->56: 36 ms vs 153 ms; stem
 * 3->32 224->112: 18 ms vs 188 ms).
 */
export type InputGradForm = 'auto' | 'conv-transpose' | 'flipped-conv';

export interface GradientForms {
  /**
   * Input gradient of a k x k convolution (group 1 or depthwise):
   * 'conv-transpose': ConvTranspose with the forward weight.
   * 'flipped-conv': dy (zero-interleaved when strided) through a Conv with the spatially flipped
   * (and, for group 1, transposed) weight.
   */
  convInputGrad: InputGradForm;
  depthwiseInputGrad: InputGradForm;
  /**
   * Filter gradient of a depthwise convolution:
   * 'grouped-conv': a grouped Conv of the transposed input with the transposed dy as its weight.
   * 'shifted-mul': for each kernel tap, a strided Slice of the padded input times dy, reduced.
   * 'nchwc': onnxruntime's blocked depthwise Conv over (sample, channel) pairs with dy as the kernel
   * (no transposes, no im2col); needs the NCHWc kernels (probed) and N*C divisible by their block.
   * 'auto': 'nchwc' where it applies, else 'grouped-conv'.
   */
  depthwiseFilterGrad: 'auto' | 'grouped-conv' | 'shifted-mul' | 'nchwc';
  /**
   * Filter gradient of a k x k convolution (group 1):
   * 'transposed-conv': a Conv of the transposed input with the transposed dy as its weight.
   * 'shifted-matmul': for each kernel tap, a strided Slice of the padded input times dy^T (batched MatMul).
   */
  convFilterGrad: 'auto' | 'transposed-conv' | 'shifted-matmul';
  /**
   * The depthwise Conv of the forward pass and of the stride-1 input gradient:
   * 'auto': onnxruntime's NCHWc kernels where the channels fit their block (C144 56x56 N16: 9.0 ms with
   * the reorders vs 12.6 ms; mobilenet_v2@224 b16 step 15.1 -> 21.5 img/s); 'plain': the ONNX Conv with
   * group = channels. (The same kernels for ResNet50's 3x3 convolutions made its step slower, 4.8 -> 4.2
   * img/s with the reorders, so group-1 convolutions stay on the plain Conv.)
   */
  depthwiseConv: 'auto' | 'plain';
  /**
   * A frozen (inference-mode) BatchNormalization right after a Conv2D or DepthwiseConv2D without
   * activation, as its only consumer: 'auto' folds it into the convolution (weights scaled per output
   * channel in the graph, the gradient taken through the scale), which removes the BatchNorm's forward
   * and backward passes over the activation and lets onnxruntime fuse the following activation into the
   * Conv; 'off' keeps it a layer of its own.
   */
  foldFrozenBatchNorm: 'auto' | 'off';
}

// Depthwise filter gradient (bench/op_forms.ts, N16, quiet machine): the NCHWc form beat the grouped
// Conv at every MobileNetV2 shape (C144 56: 14.4 vs 48.6 ms; C96 112 s2: 18.0 vs 36.0; C384 14: 2.5 vs
// 8.4), which beat shifted Slice/Mul/ReduceSum (C96 112 s2: 157 ms).
export const gradientForms: GradientForms = {
  convInputGrad: 'auto',
  depthwiseInputGrad: 'auto',
  depthwiseFilterGrad: 'auto',
  // 'auto': shifted MatMul for wide inputs (3x3 64->64 at 56, N16: 96 ms vs 314 ms; 128->128 at 28:
  // 82 vs 156), the transposed Conv for image stems with few input channels (7x7 3->64 at 224: 131 vs 619).
  convFilterGrad: 'auto',
  depthwiseConv: 'auto',
  foldFrozenBatchNorm: 'auto',
};

/** Overrides the gradient forms (benchmarks and tests); returns the previous settings. */
export function setGradientForms(forms: Partial<GradientForms>): GradientForms {
  const previous = { ...gradientForms };
  Object.assign(gradientForms, forms);
  return previous;
}

/** Output maps below this many pixels take the single-GEMM filter-gradient forms. */
const SMALL_MAP = 256;

export interface ConvShape {
  batch: number;
  inChannels: number;
  outChannels: number;
  group: number;
}

/** [N,C,Ho,Wo] -> [N,C,Ho*s0,Wo*s1] with each value followed by s-1 zeros along each spatial axis. */
function zeroInterleave(o: Ops, dy: string, s: ConvShape & { channels: number }, out: [number, number], strides: [number, number], hint: string): string {
  if (strides[0] === 1 && strides[1] === 1) return dy;
  const [ho, wo] = out;
  const r6 = o.reshape(dy, [s.batch, s.channels, ho, 1, wo, 1], `${hint}_r6`);
  const padded = o.pad(r6, [0, 0, 0, 0, 0, 0, 0, 0, 0, strides[0] - 1, 0, strides[1] - 1], `${hint}_zi`);
  return o.reshape(padded, [s.batch, s.channels, ho * strides[0], wo * strides[1]], `${hint}_interleaved`);
}

/**
 * Reverses the two spatial axes of an OIHW weight: reversing both is reversing the kh*kw taps of each
 * (o, i), which is a product with the exchange matrix (1 on the anti-diagonal; exact: each output is one
 * weight times 1 plus zeros). onnxruntime's Slice with negative steps copies element by element: inception_v3's
 * mixed10 spent 44 of its 729 ms a step flipping kernels that way.
 */
function flipSpatial(o: Ops, w: string, kernel: [number, number], s: ConvShape, hint: string): string {
  const taps = kernel[0] * kernel[1];
  const exchange = new Float32Array(taps * taps);
  for (let i = 0; i < taps; i++) exchange[i * taps + (taps - 1 - i)] = 1;
  const flat = o.reshape(w, [-1, taps], `${hint}_taps`);
  const flipped = o.op('MatMul', [flat, o.b.addFloatInitializer(`${hint}_exchange`, exchange, [taps, taps])], `${hint}_flip`);
  return o.reshape(flipped, [s.outChannels, s.inChannels / s.group, kernel[0], kernel[1]], `${hint}_flip4d`);
}

/** dL/dx of y = Conv(x, w) (no bias), dy: [N, O, Ho, Wo] -> [N, I, H, W]. */
export function convInputGrad(o: Ops, dy: string, w: string, g: Geometry, s: ConvShape, hint: string): string {
  const [h, wd] = g.inSize;
  const [ho, wo] = g.outSize;
  const depthwise = s.group > 1;
  if (!depthwise && isPointwise(g) && (g.strides[0] !== 1 || g.strides[1] !== 1)) {
    // Strided 1x1 (ResNet's downsampling convs): ConvTranspose scatters W^T dy onto every s-th pixel;
    // the MatMul + zero-interleaving Pad below cost a slow 6-D Pad (conv3_block1_0: 59 ms for the Pad alone).
    const outputPadding = [0, 1].map((a) => g.inSize[a] - (g.strides[a] * (g.outSize[a] - 1) + 1));
    return o.op('ConvTranspose', [dy, w], `${hint}_dx`, { kernel_shape: [1, 1], strides: g.strides, pads: [0, 0, 0, 0], output_padding: outputPadding });
  }
  if (!depthwise && isPointwise(g)) {
    // 1x1: dx = W^T dy per pixel, one broadcast MatMul.
    const wt = o.transpose(o.reshape(w, [s.outChannels, s.inChannels], `${hint}_w2d`), [1, 0], `${hint}_wT`);
    let dx = o.op('MatMul', [wt, o.reshape(dy, [s.batch, s.outChannels, ho * wo], `${hint}_dy3d`)], `${hint}_dx3d`);
    return o.reshape(dx, [s.batch, s.inChannels, h, wd], `${hint}_dx4d`);
  }
  const setting = depthwise ? gradientForms.depthwiseInputGrad : gradientForms.convInputGrad;
  const strided = g.strides[0] !== 1 || g.strides[1] !== 1;
  const form = setting === 'auto' ? (strided ? 'conv-transpose' : 'flipped-conv') : setting;
  const multiplier = s.outChannels / s.group;
  if (form === 'conv-transpose' || (depthwise && multiplier !== 1)) {
    const outputPadding = [0, 1].map((a) => g.inSize[a] - (g.strides[a] * (g.outSize[a] - 1) + g.kernel[a] - g.pads[a] - g.pads[a + 2]));
    return o.op('ConvTranspose', [dy, w], `${hint}_dx`, {
      kernel_shape: g.kernel,
      strides: g.strides,
      pads: g.pads,
      output_padding: outputPadding,
      group: s.group,
    });
  }
  // Flipped conv: dx[h] = sum_i dyDilated[h + pad_begin - i] w[i], a correlation of the zero-interleaved
  // dy, padded by k-1-pad_begin in front, with the flipped kernel.
  let wf = flipSpatial(o, w, g.kernel, s, hint);
  if (!depthwise) wf = o.transpose(wf, [1, 0, 2, 3], `${hint}_wflipT`);
  const channels = s.outChannels;
  let dyd = zeroInterleave(o, dy, { ...s, channels }, [ho, wo], g.strides, `${hint}_dy`);
  const dilated = [ho * g.strides[0], wo * g.strides[1]];
  const begin = [0, 1].map((a) => g.kernel[a] - 1 - g.pads[a]);
  const end = [0, 1].map((a) => g.inSize[a] + g.pads[a] - dilated[a]);
  if (begin.some((v) => v < 0) || end.some((v) => v < 0)) {
    // Rows of dy that no input pixel reached: cut them instead of padding negatively.
    dyd = o.slice(dyd, [Math.max(-begin[0], 0), Math.max(-begin[1], 0)], [dilated[0] + Math.min(end[0], 0), dilated[1] + Math.min(end[1], 0)], [2, 3], `${hint}_dycut`);
  }
  const attrs = { kernel_shape: g.kernel, strides: [1, 1], pads: [Math.max(begin[0], 0), Math.max(begin[1], 0), Math.max(end[0], 0), Math.max(end[1], 0)] };
  if (depthwise && useNchwcDepthwise(s.group)) return nchwcDepthwiseConv(o, dyd, wf, undefined, attrs, s.group, `${hint}_dx`);
  return o.op('Conv', [dyd, wf], `${hint}_dx`, { ...attrs, group: s.group });
}

/** Whether a depthwise Conv over `channels` channels (multiplier 1) runs on the NCHWc kernels. */
export function useNchwcDepthwise(channels: number): boolean {
  const block = nchwcBlockSize();
  return gradientForms.depthwiseConv === 'auto' && block !== undefined && channels % block === 0;
}

/** dL/dw of y = Conv(x, w), x: [N, I, H, W], dy: [N, O, Ho, Wo] -> w's shape [O, I/group, kh, kw]. */
export function convFilterGrad(o: Ops, x: string, dy: string, g: Geometry, s: ConvShape, hint: string): string {
  const [ho, wo] = g.outSize;
  const { batch: n, inChannels: cin, outChannels: cout } = s;
  const strided = g.strides[0] !== 1 || g.strides[1] !== 1;
  if (s.group === 1 && isPointwise(g)) {
    // 1x1: dW = sum_n dy[n] x[n]^T over pixels: a batched MatMul and a sum over the batch.
    const xs = strided ? o.slice(x, [0, 0], [g.inSize[0], g.inSize[1]], [2, 3], `${hint}_xs`, g.strides) : x;
    if (ho * wo < SMALL_MAP) {
      // Small maps: one GEMM over K = N*H*W instead of N GEMMs with a tiny K (ResNet conv5: K = 49).
      const dy2 = o.reshape(o.transpose(o.reshape(dy, [n, cout, ho * wo], `${hint}_dy3d`), [1, 0, 2], `${hint}_dyCN`), [cout, n * ho * wo], `${hint}_dy2d`);
      const x2 = o.reshape(o.transpose(o.reshape(xs, [n, cin, ho * wo], `${hint}_x3d`), [0, 2, 1], `${hint}_xT`), [n * ho * wo, cin], `${hint}_x2d`);
      return o.reshape(o.op('MatMul', [dy2, x2], `${hint}_dw2d`), [cout, cin, 1, 1], `${hint}_dw`);
    }
    const xt = o.transpose(o.reshape(xs, [n, cin, ho * wo], `${hint}_x3d`), [0, 2, 1], `${hint}_xT`);
    const perSample = o.op('MatMul', [o.reshape(dy, [n, cout, ho * wo], `${hint}_dy3d`), xt], `${hint}_dw_n`);
    return o.reshape(o.reduceSum(perSample, [0], false, `${hint}_dw2d`), [cout, cin, 1, 1], `${hint}_dw`);
  }
  const reshapeCropped = (v: string, lead: number[]): string => {
    const cropped = o.slice(v, [0, 0], g.kernel, [2, 3], `${hint}_dwcrop`);
    return lead.length ? o.reshape(cropped, [...lead, g.kernel[0], g.kernel[1]], `${hint}_dw`) : cropped;
  };
  const dilationAttrs = { strides: [1, 1], pads: g.pads, dilations: g.strides };
  const filterForm = gradientForms.convFilterGrad === 'auto' ? (cin >= 16 ? 'shifted-matmul' : 'transposed-conv') : gradientForms.convFilterGrad;
  if (s.group === 1 && filterForm === 'shifted-matmul') {
    // dW[o, i, a, b] = sum_n sum_p xpad[n, i, a + s p] dy[n, o, p]: per tap (a, b) a batched MatMul of the
    // strided input slice with dy^T (transposed once), then a sum over the batch.
    const xp = g.pads.some((p) => p > 0) ? o.pad(x, [0, 0, g.pads[0], g.pads[1], 0, 0, g.pads[2], g.pads[3]], `${hint}_xpad`) : x;
    const small = ho * wo < SMALL_MAP;
    // Small maps: dy^T as one [N*H*W, O] matrix and one GEMM per tap (K = N*H*W); else batched per sample.
    const dyt = small
      ? o.reshape(o.transpose(o.reshape(dy, [n, cout, ho * wo], `${hint}_dy3d`), [0, 2, 1], `${hint}_dyT3d`), [n * ho * wo, cout], `${hint}_dyT`)
      : o.transpose(o.reshape(dy, [n, cout, ho * wo], `${hint}_dy3d`), [0, 2, 1], `${hint}_dyT`);
    const taps: string[] = [];
    for (let a = 0; a < g.kernel[0]; a++) {
      for (let b = 0; b < g.kernel[1]; b++) {
        const xs = o.slice(xp, [a, b], [a + g.strides[0] * (ho - 1) + 1, b + g.strides[1] * (wo - 1) + 1], [2, 3], `${hint}_tap${a}_${b}`, g.strides);
        const xs3 = o.reshape(xs, [n, cin, ho * wo], `${hint}_tap${a}_${b}_3d`);
        const lhs = small ? o.reshape(o.transpose(xs3, [1, 0, 2], `${hint}_tap${a}_${b}_icn`), [cin, n * ho * wo], `${hint}_tap${a}_${b}_2d`) : xs3;
        taps.push(o.op('MatMul', [lhs, dyt], `${hint}_tap${a}_${b}_dw`));
      }
    }
    // Per tap [N, I, O] (batched) or [I, O] (small maps); taps side by side along the last axis.
    const stacked = taps.length === 1 ? taps[0] : o.op('Concat', taps, `${hint}_taps`, { axis: small ? 1 : 2 });
    const summed = small ? stacked : o.reduceSum(stacked, [0], false, `${hint}_dw_sum`); // [I, T*O]
    const tapCount = g.kernel[0] * g.kernel[1];
    const oit = o.transpose(o.reshape(summed, [cin, tapCount, cout], `${hint}_dw_ito`), [2, 0, 1], `${hint}_dw_oit`);
    return o.reshape(oit, [cout, cin, g.kernel[0], g.kernel[1]], `${hint}_dw`);
  }
  if (s.group === 1) {
    // dW[o,i] = correlation of x[:, i] with dy[:, o], summed over the batch: a Conv whose "batch" is
    // the input channels, "channels" the samples, and whose weight is dy (dilated by the stride).
    const xt = o.transpose(x, [1, 0, 2, 3], `${hint}_xT`);
    const dyt = o.transpose(dy, [1, 0, 2, 3], `${hint}_dyT`);
    const full = o.op('Conv', [xt, dyt], `${hint}_dwfull`, { ...dilationAttrs, kernel_shape: [ho, wo] });
    return o.transpose(reshapeCropped(full, []), [1, 0, 2, 3], `${hint}_dw`);
  }
  const multiplier = cout / s.group;
  if (gradientForms.depthwiseFilterGrad === 'shifted-mul' && multiplier === 1) {
    const xp = g.pads.some((p) => p > 0) ? o.pad(x, [0, 0, g.pads[0], g.pads[1], 0, 0, g.pads[2], g.pads[3]], `${hint}_xpad`) : x;
    const taps: string[] = [];
    for (let a = 0; a < g.kernel[0]; a++) {
      for (let b = 0; b < g.kernel[1]; b++) {
        const xs = o.slice(xp, [a, b], [a + g.strides[0] * (ho - 1) + 1, b + g.strides[1] * (wo - 1) + 1], [2, 3], `${hint}_tap${a}${b}`, g.strides);
        const sum = o.reduceSum(o.mul(xs, dy, `${hint}_prod${a}${b}`), [0, 2, 3], false, `${hint}_sum${a}${b}`);
        taps.push(o.reshape(sum, [cout, 1], `${hint}_col${a}${b}`));
      }
    }
    const all = taps.length === 1 ? taps[0] : o.op('Concat', taps, `${hint}_taps`, { axis: 1 });
    return o.reshape(all, [cout, 1, g.kernel[0], g.kernel[1]], `${hint}_dw`);
  }
  const block = nchwcBlockSize();
  const nchwcFits = multiplier === 1 && block !== undefined && (n * cin) % block === 0;
  const depthwiseForm = gradientForms.depthwiseFilterGrad === 'auto' ? (nchwcFits ? 'nchwc' : 'grouped-conv') : gradientForms.depthwiseFilterGrad;
  if (depthwiseForm === 'nchwc') {
    if (!nchwcFits) throw new Error(`internal: the 'nchwc' depthwise filter gradient needs the NCHWc kernels and N*C (${n * cin}) divisible by their block (${block ?? 'none'})`);
    // dW[c] = sum_n correlation of x[n, c] with dy[n, c]: a depthwise Conv over the N*C (sample,
    // channel) maps (free reshapes of NCHW) whose kernel is dy, dilated by the stride; its weight goes
    // in the blocked layout [N*C/B, 1, Ho, Wo, B], which is ReorderInput(dy)'s: shared with a stride-1
    // input gradient, which reorders the same dy (and faster than a Transpose of dy into it).
    const maps = n * cin;
    const xc = o.domainOp(NCHWC_DOMAIN, 'ReorderInput', [o.reshape(x, [1, maps, g.inSize[0], g.inSize[1]], `${hint}_x1`)], `${hint}_xc`);
    // (Per sample when C fills whole blocks; else ReorderInput would pad each sample's channels.)
    const dyMaps = cin % block! === 0 ? dy : o.reshape(dy, [1, maps, ho, wo], `${hint}_dy1`);
    const kernel = o.reshape(reorderInput(o, dyMaps, `${hint}_dyc`), [maps, 1, ho, wo], `${hint}_dyk`);
    const full = o.domainOp(NCHWC_DOMAIN, 'Conv', [xc, kernel], `${hint}_dwfull`, { ...dilationAttrs, kernel_shape: [ho, wo], group: maps });
    const planar = o.domainOp(NCHWC_DOMAIN, 'ReorderOutput', [full], `${hint}_dwplanar`, { channels: maps });
    const perSample = o.reshape(o.slice(planar, [0, 0], g.kernel, [2, 3], `${hint}_dwcrop`), [n, cout, g.kernel[0], g.kernel[1]], `${hint}_dw_n`);
    return o.reshape(o.reduceSum(perSample, [0], false, `${hint}_dw_sum`), [cout, 1, g.kernel[0], g.kernel[1]], `${hint}_dw`);
  }
  // Depthwise: the same Conv trick with one group per channel; the samples become the group's channels.
  const xt = o.reshape(o.transpose(x, [1, 0, 2, 3], `${hint}_xT`), [1, cin * n, g.inSize[0], g.inSize[1]], `${hint}_xg`);
  const dyt = o.transpose(dy, [1, 0, 2, 3], `${hint}_dyT`);
  const full = o.op('Conv', [xt, dyt], `${hint}_dwfull`, { ...dilationAttrs, kernel_shape: [ho, wo], group: s.group });
  return reshapeCropped(full, [cout, 1]);
}
