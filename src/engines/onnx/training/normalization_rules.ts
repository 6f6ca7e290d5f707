// BatchNormalization in training mode (batch statistics, moving-average update outputs) and in
// inference mode (frozen layer, Keras semantics), plus the affine preprocessing layers.
import type { OnnxValue } from '../graph_builder.js';
import { like } from './ops.js';
import { registerGradientRule, UnsupportedLayer, type RuleContext } from './rules.js';

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

// Memory traffic, not arithmetic, bounds BatchNorm on a CPU: the forward is two reductions (mean and
// mean square) and one ONNX BatchNormalization op (a single pass, with the batch statistics as its
// "running" inputs); the backward needs sum(dy) and sum(dy * x) and one affine pass, never xhat.
registerGradientRule('BatchNormalization', (c) => {
  const o = c.ops;
  const name = c.layer.name;
  const L = channelLayout(c, c.config.axis);
  const x = L.x;
  const epsilon = c.config.epsilon ?? 1e-3;
  const momentum = c.config.momentum ?? 0.99;
  const gamma = c.config.scale === false ? undefined : c.param('gamma');
  const beta = c.config.center === false ? undefined : c.param('beta');
  const movingMean = c.param('movingMean')!;
  const movingVariance = c.param('movingVariance')!;
  const perChannel = (v: string, hint: string): string => (L.broadcast.length === 1 ? v : o.reshape(v, L.broadcast, hint));
  const gammaValue = gamma?.name ?? o.b.addFloatInitializer(`${name}/ones`, new Float32Array(L.channels).fill(1), [L.channels]);
  const betaValue = beta?.name ?? o.b.addFloatInitializer(`${name}/zeros`, new Float32Array(L.channels), [L.channels]);

  if (c.frozen) {
    // Keras: a frozen BN normalises with its moving statistics and leaves them untouched.
    const y = o.op('BatchNormalization', [x.name, gammaValue, betaValue, movingMean.name, movingVariance.name], name, { epsilon: { float: epsilon } });
    const rstd = o.op('Reciprocal', [o.op('Sqrt', [o.add(movingVariance.name, o.scalar(epsilon), `${name}_var_eps`)], `${name}_std`)], `${name}_rstd`);
    const scaleB = perChannel(gamma ? o.mul(gamma.name, rstd, `${name}_scale`) : rstd, `${name}_scale_b`);
    return {
      outputs: [like(x, y)],
      backward: (dys, need) => [need[0] && dys[0] ? like(x, o.mul(o.b.toLayout(dys[0], x.layout).name, scaleB, `${name}_dx`)) : undefined],
    };
  }

  // Per-channel affine y = x * scale + shift in one pass: BatchNormalization with mean 0 and a variance
  // that makes sqrt(var + eps) exactly 1. Its constants are made with the backward pass that uses them:
  // unused constants make onnxruntime warn (the batch-statistics graph has no backward).
  const affine = (v: string, scale: string, shift: string, hint: string): string => {
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
    backward: (dys, need) => {
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
      const xPart = affine(x.name, c1, c0, `${name}_dx_x`);
      return [like(x, o.add(o.mul(g, perChannel(k, `${name}_k_b`), `${name}_dy_k`), xPart, `${name}_dx`))];
    },
  };
});

/** Epsilon of the affine-only BatchNormalization trick; 1 - eps + eps rounds to 1 in float32. */
const AFFINE_EPSILON = 1 / 1024;

registerGradientRule('Rescaling', (c) => {
  const o = c.ops;
  const x = c.ops.b.preferNCHW(c.inputs[0]);
  let y = o.mul(x.name, o.scalar(c.config.scale), `${c.layer.name}_scale`);
  if (c.config.offset) y = o.add(y, o.scalar(c.config.offset), c.layer.name);
  return {
    outputs: [like(x, y)],
    backward: (dys, need) => [need[0] && dys[0] ? like(x, o.mul(o.b.toLayout(dys[0], x.layout).name, o.scalar(c.config.scale), `${c.layer.name}_dx`)) : undefined],
  };
});

// tlkit's Normalization (EfficientNet): y = (x - mean) / max(sqrt(variance), 1e-7), constants.
registerGradientRule('Normalization', (c) => {
  const o = c.ops;
  const name = c.layer.name;
  const axes = (c.config.axis ?? [-1]) as number[];
  const L = channelLayout(c, axes);
  const mean = c.param('mean')!;
  const variance = c.param('variance')!;
  const perChannel = (v: string, hint: string): string => (L.broadcast.length === 1 ? v : o.reshape(v, L.broadcast, hint));
  const scale = perChannel(o.op('Reciprocal', [o.op('Max', [o.op('Sqrt', [variance.name], `${name}_std`), o.scalar(1e-7)], `${name}_std_floor`)], `${name}_rstd`), `${name}_scale_b`);
  const y = o.mul(o.sub(L.x.name, perChannel(mean.name, `${name}_mean_b`), `${name}_centered`), scale, name);
  return {
    outputs: [like(L.x, y)],
    backward: (dys, need) => [need[0] && dys[0] ? like(L.x, o.mul(o.b.toLayout(dys[0], L.x.layout).name, scale, `${name}_dx`)) : undefined],
  };
});
