// BatchNormalization, and the affine preprocessing layers (Rescaling, tlkit's Keras-like
// Normalization). Their inference forward is a per-channel affine map: the ONNX BatchNormalization op on
// an image's channels (onnxruntime folds it into the Conv before it), else y = x * scale + shift, folded
// into constants when the weights are constants (export) and computed in the graph when they are inputs.
import type { OnnxValue } from '../graph_builder.js';
import { like, type Ops } from '../training/ops.js';
import { broadcastDims, normalizeAxis } from './geometry.js';
import { requireValue, UnsupportedLayer, type ForwardContext, type LayerTable, type RuleContext } from './table.js';

/** Inference-mode BatchNorm's per-channel scale in the graph: gamma / sqrt(variance + epsilon), [C]. */
export function batchNormScale(o: Ops, gamma: string | undefined, variance: string, epsilon: number, hint: string): string {
  const rstd = o.op('Reciprocal', [o.op('Sqrt', [o.add(variance, o.scalar(epsilon), `${hint}_var_eps`)], `${hint}_std`)], `${hint}_rstd`);
  return gamma ? o.mul(gamma, rstd, `${hint}_scale`) : rstd;
}

/** Its shift: beta - mean * scale, [C]. */
export function batchNormShift(o: Ops, beta: string | undefined, mean: string, scale: string, hint: string): string {
  const centred = o.op('Neg', [o.mul(mean, scale, `${hint}_mean_scaled`)], `${hint}_neg_mean_scaled`);
  return beta ? o.add(beta, centred, `${hint}_shift`) : centred;
}

type PerChannel = Float32Array | string;

/** y = x * scale + shift, [C] constants or graph values broadcast as `dims`. Returns y and the broadcast scale. */
function affine(c: ForwardContext, x: OnnxValue, dims: number[], scale: PerChannel, shift: PerChannel, name: string): { y: OnnxValue; scale: string } {
  const b = c.builder;
  const value = (v: PerChannel, what: string): string =>
    typeof v !== 'string' ? b.addFloatInitializer(`${name}/${what}`, v, dims) : dims.length === 1 ? v : c.ops.reshape(v, dims, `${name}_${what}_b`);
  const scaleValue = value(scale, 'scale');
  const scaled = b.binary('Mul', x, scaleValue, `${name}_scale`);
  return { y: b.binary('Add', scaled, value(shift, 'shift'), name), scale: scaleValue };
}

/** A layer's per-channel gamma or beta as a graph value; the neutral constant when the layer has none (center/scale=False). */
function gammaOrBeta(c: ForwardContext, field: 'gamma' | 'beta', channels: number): string {
  const used = c.config[field === 'gamma' ? 'scale' : 'center'] !== false;
  const weight = used ? c.weight(field, 'plain', `${c.layer.name}/${field}`) : undefined;
  return weight ?? c.builder.addFloatInitializer(`${c.layer.name}/${field}`, new Float32Array(channels).fill(field === 'gamma' ? 1 : 0), [channels]);
}

interface NormForward {
  x: OnnxValue;
  y: OnnxValue;
}

/** BatchNormalization in inference mode (Keras: predict, or a frozen layer): the moving statistics. */
function batchNormInference(c: ForwardContext): NormForward {
  const b = c.builder;
  const x = c.inputs[0];
  const rank = x.shape.length;
  const axis = normalizeAxis(c.config.axis ?? -1, rank);
  const channels = x.shape[axis] as number;
  const epsilon = c.config.epsilon ?? 1e-3;
  const name = c.layer.name;
  if (rank === 4 && axis === 3) {
    const xc = b.toLayout(x, 'nchw');
    const inputs = [
      xc.name,
      gammaOrBeta(c, 'gamma', channels),
      gammaOrBeta(c, 'beta', channels),
      requireValue(c.weight('movingMean', 'plain', `${name}/moving_mean`), 'movingMean'),
      requireValue(c.weight('movingVariance', 'plain', `${name}/moving_variance`), 'movingVariance'),
    ];
    const [y] = b.node('BatchNormalization', inputs, name, { epsilon: { float: epsilon } });
    return { x: xc, y: { name: y, shape: c.outputShapes[0], layout: 'nchw' } };
  }
  // Any other axis: y = x * scale + shift broadcast along `axis` (in Keras layout).
  const xn = b.toLayout(x, 'native');
  const dims = broadcastDims(rank, axis, channels);
  const withGamma = c.config.scale !== false;
  const withBeta = c.config.center !== false;
  const mean = c.constant('movingMean');
  if (mean) {
    const variance = requireValue(c.constant('movingVariance'), 'movingVariance');
    const gamma = withGamma ? c.constant('gamma') : undefined;
    const beta = withBeta ? c.constant('beta') : undefined;
    const scale = new Float32Array(channels);
    const shift = new Float32Array(channels);
    for (let i = 0; i < channels; i++) {
      scale[i] = (gamma ? gamma[i] : 1) / Math.sqrt(variance[i] + epsilon);
      shift[i] = (beta ? beta[i] : 0) - mean[i] * scale[i];
    }
    return { x: xn, y: affine(c, xn, dims, scale, shift, name).y };
  }
  const o = c.ops;
  const gamma = withGamma ? c.weight('gamma', 'plain', `${name}/gamma`) : undefined;
  const beta = withBeta ? c.weight('beta', 'plain', `${name}/beta`) : undefined;
  const scale = batchNormScale(o, gamma, requireValue(c.weight('movingVariance', 'plain', `${name}/moving_variance`), 'movingVariance'), epsilon, name);
  const shift = batchNormShift(o, beta, requireValue(c.weight('movingMean', 'plain', `${name}/moving_mean`), 'movingMean'), scale, name);
  return { x: xn, y: affine(c, xn, dims, scale, shift, name).y };
}

interface ChannelLayout {
  x: OnnxValue;
  /** Axes reduced by the batch statistics (physical). */
  axes: number[];
  /** Shape that broadcasts a per-channel [C] vector against x. */
  broadcast: number[];
  channels: number;
  /** Elements per channel in the batch. */
  count: number;
}

/** The training graph normalises the channels (last Keras axis) only: channels-first for images. */
function channelLayout(c: RuleContext, axisConfig: number | number[] | undefined): ChannelLayout {
  const input = c.inputs[0];
  const rank = input.shape.length;
  const raw = Array.isArray(axisConfig) ? (axisConfig.length === 1 ? axisConfig[0] : NaN) : (axisConfig ?? -1);
  const axis = raw < 0 ? rank + raw : raw;
  if (axis !== rank - 1) throw new UnsupportedLayer(`axis=${JSON.stringify(axisConfig)} (only the channels axis, -1, is trainable)`);
  const shape = input.shape as number[];
  const channels = shape[axis];
  const count = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (rank === 4) {
    return { x: c.ops.b.toLayout(input, 'nchw'), axes: [0, 2, 3], broadcast: [1, channels, 1, 1], channels, count };
  }
  const x = c.ops.b.toLayout(input, 'native');
  return { x, axes: shape.slice(0, -1).map((_, i) => i), broadcast: [channels], channels, count };
}

/** Epsilon of the affine-only BatchNormalization trick; 1 - eps + eps rounds to 1 in float32. */
const AFFINE_EPSILON = 1 / 1024;

function batchNormGradient(c: RuleContext) {
  const o = c.ops;
  const name = c.layer.name;
  const L = channelLayout(c, c.config.axis);
  const x = L.x;
  const epsilon = c.config.epsilon ?? 1e-3;
  const perChannel = (v: string, hint: string): string => (L.broadcast.length === 1 ? v : o.reshape(v, L.broadcast, hint));
  const gamma = c.config.scale === false ? undefined : c.param('gamma');
  const beta = c.config.center === false ? undefined : c.param('beta');
  const movingMean = c.param('movingMean')!;
  const movingVariance = c.param('movingVariance')!;

  if (c.frozen) {
    // Keras: a frozen BN normalises with its moving statistics and leaves them untouched: the inference forward.
    const { y } = batchNormInference(c);
    const scale = perChannel(batchNormScale(o, gamma?.name, movingVariance.name, epsilon, `${name}_frozen`), `${name}_scale_b`);
    return {
      outputs: [y],
      backward: (dys: (OnnxValue | undefined)[], need: boolean[]) => [need[0] && dys[0] ? like(x, o.mul(o.b.toLayout(dys[0], x.layout).name, scale, `${name}_dx`)) : undefined],
    };
  }

  // Training mode has its own forward: batch statistics, and the moving averages updated.
  // Memory traffic, not arithmetic, bounds BatchNorm on a CPU: the forward is two reductions (mean and
  // mean square) and one ONNX BatchNormalization op (a single pass, with the batch statistics as its
  // "running" inputs); the backward needs sum(dy) and sum(dy * x) and one affine pass, never xhat.
  const momentum = c.config.momentum ?? 0.99;
  const gammaValue = gammaOrBeta(c, 'gamma', L.channels);
  const betaValue = gammaOrBeta(c, 'beta', L.channels);
  // Per-channel affine y = x * scale + shift in one pass: BatchNormalization with mean 0 and a variance
  // that makes sqrt(var + eps) exactly 1. Its constants are made with the backward pass that uses them:
  // unused constants make onnxruntime warn (the batch-statistics graph has no backward).
  const affinePass = (v: string, scale: string, shift: string, hint: string): string => {
    const zeros = o.b.addFloatInitializer(`${name}/affine_mean`, new Float32Array(L.channels), [L.channels]);
    const unitVariance = o.b.addFloatInitializer(`${name}/affine_var`, new Float32Array(L.channels).fill(1 - AFFINE_EPSILON), [L.channels]);
    return o.op('BatchNormalization', [v, scale, shift, zeros, unitVariance], hint, { epsilon: { float: AFFINE_EPSILON } });
  };
  const invCount = o.scalar(1 / L.count);
  let mean: string;
  let variance: string;
  let y: string;
  if (x.shape.length === 4 || x.shape.length === 2) {
    // onnxruntime's BatchNormalization in training mode: batch mean, biased variance and the normalised
    // output in one op (the composed form below takes four passes). With momentum 0 its "running" outputs
    // are the batch statistics. The kernel writes them into the buffers of its running-statistics
    // inputs (in place, as a training build updates them), so those inputs are scratch constants of this
    // layer alone, never the moving statistics that the update below reads; their values are unique per
    // layer (the graph's initializer count) so that no optimiser merges two layers' scratch buffers.
    const scratch = (what: string): string => o.b.addFloatInitializer(`${name}/${what}_scratch`, new Float32Array(L.channels).fill(o.b.initializers.length), [L.channels]);
    [y, mean, variance] = o.b.node('BatchNormalization', [x.name, gammaValue, betaValue, scratch('mean'), scratch('variance')], name, { epsilon: { float: epsilon }, momentum: { float: 0 }, training_mode: 1 }, [
      o.b.uniqueName(name),
      o.b.uniqueName(`${name}_mean`),
      o.b.uniqueName(`${name}_var`),
    ]);
  } else {
    mean = o.reduceMean(x.name, L.axes, false, `${name}_mean`);
    // Biased batch variance, as tfjs-layers (and Keras) normalise with, from centred values: E[x^2] - E[x]^2
    // would save the Sub pass but loses float32 digits when |mean| >> std (ResNet/Inception activations).
    const centered = o.sub(x.name, perChannel(mean, `${name}_mean_b`), `${name}_centered`);
    variance = o.mul(o.op('ReduceSumSquare', [centered], `${name}_sumsq`, { axes: L.axes, keepdims: 0 }), invCount, `${name}_var`);
    y = o.op('BatchNormalization', [x.name, gammaValue, betaValue, mean, variance], name, { epsilon: { float: epsilon } });
  }
  // tfjs-layers' moving average: moving - (moving - batch) * (1 - momentum).
  const decay = o.scalar(1 - momentum);
  const update = (moving: string, batch: string, hint: string): string => o.sub(moving, o.mul(o.sub(moving, batch, `${hint}_diff`), decay, `${hint}_step`), hint);
  c.batchStatistics(mean, variance, L.channels);
  c.stateUpdate('movingMean', update(movingMean.name, mean, `${name}_moving_mean`));
  c.stateUpdate('movingVariance', update(movingVariance.name, variance, `${name}_moving_variance`));

  return {
    outputs: [like(x, y)],
    backward: (dys: (OnnxValue | undefined)[], need: boolean[]) => {
      const dy = dys[0];
      if (!dy) return [undefined];
      const g = o.b.toLayout(dy, x.layout).name;
      const rstd = o.op('Reciprocal', [o.op('Sqrt', [o.add(variance, o.scalar(epsilon), `${name}_var_eps`)], `${name}_std`)], `${name}_rstd`);
      const sumDy = o.reduceSum(g, L.axes, false, `${name}_dbeta`);
      const sumDyX = o.reduceSum(o.mul(g, x.name, `${name}_dy_x`), L.axes, false, `${name}_sum_dy_x`);
      // dgamma = sum(dy * xhat) = rstd * (sum(dy x) - mean sum(dy))
      const dgamma = o.mul(o.sub(sumDyX, o.mul(mean, sumDy, `${name}_mean_sumdy`), `${name}_centered_dot`), rstd, `${name}_dgamma`);
      if (gamma?.trainable) c.paramGrad('gamma', dgamma);
      if (beta?.trainable) c.paramGrad('beta', sumDy);
      if (!need[0]) return [undefined];
      // dx = k (dy - xhat dgamma/M - dbeta/M), k = gamma rstd, written as k dy + c1 x + c0 with
      // c1 = -k rstd dgamma / M and c0 = -c1 mean - k dbeta / M.
      const k = gamma ? o.mul(gamma.name, rstd, `${name}_k`) : rstd;
      const c1 = o.op('Neg', [o.mul(o.mul(k, rstd, `${name}_k_rstd`), o.mul(dgamma, invCount, `${name}_dgamma_m`), `${name}_c1_pos`)], `${name}_c1`);
      const c0 = o.sub(o.op('Neg', [o.mul(c1, mean, `${name}_c1_mean`)], `${name}_c1_mean_neg`), o.mul(k, o.mul(sumDy, invCount, `${name}_dbeta_m`), `${name}_k_dbeta`), `${name}_c0`);
      const xPart = affinePass(x.name, c1, c0, `${name}_dx_x`);
      return [like(x, o.add(o.mul(g, perChannel(k, `${name}_k_b`), `${name}_dy_k`), xPart, `${name}_dx`))];
    },
  };
}

function rescaling(c: ForwardContext): OnnxValue[] {
  const b = c.builder;
  // At the start of an image model: go channels-first here so the input is transposed once.
  const x = b.preferNCHW(c.inputs[0]);
  let y = b.binary('Mul', x, b.scalar(c.config.scale), `${c.layer.name}_scale`);
  if (c.config.offset) y = b.binary('Add', y, b.scalar(c.config.offset), c.layer.name);
  return [{ ...y, shape: c.outputShapes[0] }];
}

// tlkit's Keras-like preprocessing Normalization (src/models/layers/normalization.ts, EfficientNet):
// y = (x - mean) / max(sqrt(variance), 1e-7) per kept axis, as x * scale + shift.
const NORMALIZATION_EPSILON = 1e-7;

function normalization(c: ForwardContext): NormForward & { scale: string } {
  const x = c.inputs[0];
  const rank = x.shape.length;
  const axes = (c.config.axis ?? [-1]) as number[];
  if (axes.length !== 1) throw new UnsupportedLayer(`axis=${JSON.stringify(axes)} (a single axis is supported)`);
  const axis = normalizeAxis(axes[0], rank);
  const name = c.layer.name;
  const size = x.shape[axis] as number;
  // Channels of an image go channels-first here, so the input Transpose happens once, before it.
  const channelsFirst = rank === 4 && axis === 3;
  const xl = c.builder.toLayout(x, channelsFirst ? 'nchw' : 'native');
  const dims = channelsFirst ? [size, 1, 1] : broadcastDims(rank, axis, size);
  const mean = c.constant('mean');
  let scale: PerChannel;
  let shift: PerChannel;
  if (mean) {
    const variance = requireValue(c.constant('variance'), 'variance');
    scale = new Float32Array(size);
    shift = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      scale[i] = 1 / Math.max(Math.sqrt(variance[i]), NORMALIZATION_EPSILON);
      shift[i] = -mean[i] * scale[i];
    }
  } else {
    const o = c.ops;
    const variance = requireValue(c.weight('variance', 'plain', `${name}/variance`), 'variance');
    const meanValue = requireValue(c.weight('mean', 'plain', `${name}/mean`), 'mean');
    scale = o.op('Reciprocal', [o.op('Max', [o.op('Sqrt', [variance], `${name}_std`), o.scalar(NORMALIZATION_EPSILON)], `${name}_std_floor`)], `${name}_rstd`);
    shift = o.op('Neg', [o.mul(meanValue, scale, `${name}_mean_scaled`)], `${name}_shift`);
  }
  const result = affine(c, xl, dims, scale, shift, name);
  return { x: xl, ...result };
}

/** The same forward, and dx = dy * scale. */
function scaledGradient(c: RuleContext, forward: { x: OnnxValue; y: OnnxValue }, scale: string) {
  const o = c.ops;
  return {
    outputs: [forward.y],
    backward: (dys: (OnnxValue | undefined)[], need: boolean[]) => [need[0] && dys[0] ? like(forward.x, o.mul(o.b.toLayout(dys[0], forward.x.layout).name, scale, `${c.layer.name}_dx`)) : undefined],
  };
}

export const NORMALIZATION_LAYERS: LayerTable[] = [
  { className: 'BatchNormalization', forward: (c) => [batchNormInference(c).y], gradient: batchNormGradient },
  {
    className: 'Rescaling',
    forward: rescaling,
    gradient: (c) => {
      const [y] = rescaling(c);
      return scaledGradient(c, { x: c.ops.b.preferNCHW(c.inputs[0]), y }, c.ops.scalar(c.config.scale));
    },
  },
  {
    className: 'Normalization',
    forward: (c) => [normalization(c).y],
    gradient: (c) => {
      channelLayout(c, c.config.axis ?? [-1]);
      const forward = normalization(c);
      return scaledGradient(c, forward, forward.scale);
    },
  },
];
