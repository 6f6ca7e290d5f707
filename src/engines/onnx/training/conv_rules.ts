// Training rules for Conv2D, DepthwiseConv2D and SeparableConv2D (NCHW, weights as graph inputs).
import type { OnnxValue } from '../graph_builder.js';
import { activate } from './activation_gradients.js';
import { convAttributes, geometry, pair, type Geometry } from './conv_geometry.js';
import { convFilterGrad, convInputGrad, useNchwcDepthwise, type ConvShape } from './conv_gradients.js';
import { nchwcDepthwiseConv } from './nchwc.js';
import { registerGradientRule, UnsupportedLayer, type Config, type FoldedNorm, type ParamHandle, type RuleContext } from './rules.js';

function checkConfig(config: Config): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') throw new UnsupportedLayer(`dataFormat=${JSON.stringify(config.dataFormat)} (only 'channelsLast')`);
  const [d0, d1] = pair(config.dilationRate, 1);
  if (d0 !== 1 || d1 !== 1) throw new UnsupportedLayer(`dilationRate=${JSON.stringify(config.dilationRate)} (only 1 is trainable)`);
}

interface ConvStage {
  y: string;
  /** Emits the stage's weight gradients and returns dx (when asked). */
  backward(dy: string, needInput: boolean): string | undefined;
}

/**
 * One convolution stage y = Conv(x, w) + b with its backward. With `norm` (a frozen BatchNorm after it,
 * y' = y * scale + shift per output channel) the stage computes y' = Conv(x, w * scale) + (b * scale +
 * shift): dy is then dL/dy', the weight gradient is filterGrad(x, dy) * scale, the bias gradient
 * sum(dy) * scale, and dx flows through the scaled weight.
 */
function convStage(c: RuleContext, x: string, w: ParamHandle, wField: string, bias: ParamHandle | undefined, g: Geometry, s: ConvShape, hint: string, norm?: FoldedNorm): ConvStage {
  const o = c.ops;
  const folded = norm && foldNorm(c, norm, w.name, bias?.name, s.outChannels, hint);
  const weight = folded?.weight ?? w.name;
  const biasValue = folded?.bias ?? bias?.name;
  const inputs = [x, weight];
  if (biasValue) inputs.push(biasValue);
  const depthwise = s.group > 1 && s.outChannels === s.group;
  const y = depthwise && useNchwcDepthwise(s.group)
    ? nchwcDepthwiseConv(o, x, weight, biasValue, { kernel_shape: g.kernel, strides: g.strides, pads: g.pads }, s.group, hint)
    : o.op('Conv', inputs, hint, convAttributes(g, s.group));
  const unscale = (grad: string, scale: string | undefined, what: string): string => (scale ? o.mul(grad, scale, `${hint}_${what}_unfolded`) : grad);
  return {
    y,
    backward(dy, needInput) {
      if (bias?.trainable) c.paramGrad('bias', unscale(o.reduceSum(dy, [0, 2, 3], false, `${hint}_db`), folded?.scale, 'db'));
      if (w.trainable) c.paramGrad(wField, unscale(convFilterGrad(o, x, dy, g, s, `${hint}_dw`), folded?.scaleOIHW, 'dw'));
      return needInput ? convInputGrad(o, dy, weight, g, s, `${hint}_dx`) : undefined;
    },
  };
}

/**
 * Inference-mode BatchNorm as scale = gamma / sqrt(var + eps), shift = beta - mean * scale, applied to
 * the convolution's weight (output channels on axis 0, OIHW and grouped layouts alike) and bias.
 */
function foldNorm(c: RuleContext, norm: FoldedNorm, w: string, bias: string | undefined, outChannels: number, hint: string): { weight: string; bias: string; scale: string; scaleOIHW: string } {
  const o = c.ops;
  const mean = norm.param('movingMean')!.name;
  const variance = norm.param('movingVariance')!.name;
  const gamma = norm.param('gamma');
  const beta = norm.param('beta');
  const rstd = o.op('Reciprocal', [o.op('Sqrt', [o.add(variance, o.scalar(norm.epsilon), `${hint}_bn_var_eps`)], `${hint}_bn_std`)], `${hint}_bn_rstd`);
  const scale = gamma ? o.mul(gamma.name, rstd, `${hint}_bn_scale`) : rstd;
  const centred = o.op('Neg', [o.mul(mean, scale, `${hint}_bn_mean_scaled`)], `${hint}_bn_neg_mean_scaled`);
  const shift = beta ? o.add(beta.name, centred, `${hint}_bn_shift`) : centred;
  const scaleOIHW = o.reshape(scale, [outChannels, 1, 1, 1], `${hint}_bn_scale_oihw`);
  return {
    weight: o.mul(w, scaleOIHW, `${hint}_w_folded`),
    bias: bias ? o.add(o.mul(bias, scale, `${hint}_b_scaled`), shift, `${hint}_b_folded`) : shift,
    scale,
    scaleOIHW,
  };
}

function nchw(c: RuleContext, shape: number[], name: string): OnnxValue {
  return { name, shape, layout: 'nchw' };
}

registerGradientRule('Conv2D', (c) => {
  checkConfig(c.config);
  const x = c.ops.b.toLayout(c.inputs[0], 'nchw');
  const kernel = c.param('kernel', 'oihw')!;
  const bias = c.config.useBias ? c.param('bias') : undefined;
  const g = geometry(x.shape, pair(c.config.kernelSize, 1), pair(c.config.strides, 1), c.config.padding, c.inputPadding);
  const [n, , , cin] = x.shape as number[];
  const shape: ConvShape = { batch: n, inChannels: cin, outChannels: c.config.filters, group: 1 };
  const stage = convStage(c, x.name, kernel, 'kernel', bias, g, shape, c.layer.name, c.foldedNorm);
  const act = activate(c, c.config.activation, nchw(c, c.outputShapes[0], stage.y), `${c.layer.name}_act`);
  return {
    outputs: [act.y],
    backward: (dys, need) => [wrap(x, stage.backward(act.backward(dys[0]).name, need[0]))],
  };
});

registerGradientRule('DepthwiseConv2D', (c) => {
  checkConfig(c.config);
  const x = c.ops.b.toLayout(c.inputs[0], 'nchw');
  const kernel = c.param('depthwiseKernel', 'grouped')!;
  const bias = c.config.useBias ? c.param('bias') : undefined;
  const g = geometry(x.shape, pair(c.config.kernelSize, 1), pair(c.config.strides, 1), c.config.padding, c.inputPadding);
  const [n, , , channels] = x.shape as number[];
  const multiplier = c.config.depthMultiplier ?? 1;
  const shape: ConvShape = { batch: n, inChannels: channels, outChannels: channels * multiplier, group: channels };
  const stage = convStage(c, x.name, kernel, 'depthwiseKernel', bias, g, shape, c.layer.name, c.foldedNorm);
  const act = activate(c, c.config.activation, nchw(c, c.outputShapes[0], stage.y), `${c.layer.name}_act`);
  return {
    outputs: [act.y],
    backward: (dys, need) => [wrap(x, stage.backward(act.backward(dys[0]).name, need[0]))],
  };
});

registerGradientRule('SeparableConv2D', (c) => {
  checkConfig(c.config);
  const x = c.ops.b.toLayout(c.inputs[0], 'nchw');
  const depthwise = c.param('depthwiseKernel', 'grouped')!;
  const pointwise = c.param('pointwiseKernel', 'oihw')!;
  const bias = c.config.useBias ? c.param('bias') : undefined;
  const g = geometry(x.shape, pair(c.config.kernelSize, 1), pair(c.config.strides, 1), c.config.padding, c.inputPadding);
  const [n, , , channels] = x.shape as number[];
  const mid = channels * (c.config.depthMultiplier ?? 1);
  const name = c.layer.name;
  const dwStage = convStage(c, x.name, depthwise, 'depthwiseKernel', undefined, g, { batch: n, inChannels: channels, outChannels: mid, group: channels }, `${name}_depthwise`);
  const pg = geometry([n, g.outSize[0], g.outSize[1], mid], [1, 1], [1, 1], 'valid');
  const pwStage = convStage(c, dwStage.y, pointwise, 'pointwiseKernel', bias, pg, { batch: n, inChannels: mid, outChannels: c.config.filters, group: 1 }, `${name}_pointwise`);
  const act = activate(c, c.config.activation, nchw(c, c.outputShapes[0], pwStage.y), `${name}_act`);
  return {
    outputs: [act.y],
    backward: (dys, need) => {
      const dmid = pwStage.backward(act.backward(dys[0]).name, true)!;
      return [wrap(x, dwStage.backward(dmid, need[0]))];
    },
  };
});

function wrap(x: OnnxValue, name: string | undefined): OnnxValue | undefined {
  return name === undefined ? undefined : { name, shape: x.shape, layout: 'nchw' };
}
