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

  if (c.frozen) {
    // Keras: a frozen BN normalises with its moving statistics and leaves them untouched.
    const rstd = o.op('Reciprocal', [o.op('Sqrt', [o.add(movingVariance.name, o.scalar(epsilon), `${name}_var_eps`)], `${name}_std`)], `${name}_rstd`);
    const scale = gamma ? o.mul(gamma.name, rstd, `${name}_scale`) : rstd;
    let shift = o.op('Neg', [o.mul(movingMean.name, scale, `${name}_mean_scaled`)], `${name}_neg_mean_scaled`);
    if (beta) shift = o.add(shift, beta.name, `${name}_shift`);
    const scaleB = perChannel(scale, `${name}_scale_b`);
    const y = o.add(o.mul(x.name, scaleB, `${name}_scaled`), perChannel(shift, `${name}_shift_b`), name);
    return {
      outputs: [like(x, y)],
      backward: (dys, need) => [need[0] && dys[0] ? like(x, o.mul(o.b.toLayout(dys[0], x.layout).name, scaleB, `${name}_dx`)) : undefined],
    };
  }

  const mean = o.reduceMean(x.name, L.axes, true, `${name}_mean`);
  const centered = o.sub(x.name, mean, `${name}_centered`);
  const variance = o.reduceMean(o.mul(centered, centered, `${name}_sq`), L.axes, true, `${name}_var`);
  const rstd = o.op('Reciprocal', [o.op('Sqrt', [o.add(variance, o.scalar(epsilon), `${name}_var_eps`)], `${name}_std`)], `${name}_rstd`);
  const xhat = o.mul(centered, rstd, `${name}_xhat`);
  let y = xhat;
  if (gamma) y = o.mul(y, perChannel(gamma.name, `${name}_gamma_b`), `${name}_scaled`);
  if (beta) y = o.add(y, perChannel(beta.name, `${name}_beta_b`), name);
  // tfjs-layers' moving average: moving - (moving - batch) * (1 - momentum), biased batch variance.
  const decay = o.scalar(1 - momentum);
  const update = (moving: string, batch: string, hint: string): string =>
    o.sub(moving, o.mul(o.sub(moving, o.reshape(batch, [L.channels], `${hint}_flat`), `${hint}_diff`), decay, `${hint}_step`), hint);
  c.stateUpdate('movingMean', update(movingMean.name, mean, `${name}_moving_mean`));
  c.stateUpdate('movingVariance', update(movingVariance.name, variance, `${name}_moving_variance`));

  return {
    outputs: [like(x, y)],
    backward: (dys, need) => {
      const dy = dys[0];
      if (!dy) return [undefined];
      const g = o.b.toLayout(dy, x.layout).name;
      const dbeta = o.reduceSum(g, L.axes, false, `${name}_dbeta`);
      const dgamma = o.reduceSum(o.mul(g, xhat, `${name}_dy_xhat`), L.axes, false, `${name}_dgamma`);
      if (gamma?.trainable) c.paramGrad('gamma', dgamma);
      if (beta?.trainable) c.paramGrad('beta', dbeta);
      if (!need[0]) return [undefined];
      // dx = gamma * rstd * (dy - (xhat * dgamma + dbeta) / M)
      const invCount = o.scalar(1 / L.count);
      const a = perChannel(o.mul(dgamma, invCount, `${name}_dgamma_m`), `${name}_dgamma_b`);
      const b = perChannel(o.mul(dbeta, invCount, `${name}_dbeta_m`), `${name}_dbeta_b`);
      const k = gamma ? o.mul(perChannel(gamma.name, `${name}_gamma_b2`), rstd, `${name}_k`) : rstd;
      const t = o.add(o.mul(xhat, a, `${name}_xhat_a`), b, `${name}_t`);
      return [like(x, o.mul(o.sub(g, t, `${name}_dy_t`), k, `${name}_dx`))];
    },
  };
});

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
