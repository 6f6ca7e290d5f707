// Training rules for Conv2D, DepthwiseConv2D and SeparableConv2D (NCHW, weights as graph inputs).
import type { OnnxValue } from '../graph_builder.js';
import { activate } from './activation_gradients.js';
import { convAttributes, geometry, pair, type Geometry } from './conv_geometry.js';
import { convFilterGrad, convInputGrad, useNchwcDepthwise, type ConvShape } from './conv_gradients.js';
import { nchwcDepthwiseConv } from './nchwc.js';
import { registerGradientRule, UnsupportedLayer, type Config, type ParamHandle, type RuleContext } from './rules.js';

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

/** One convolution stage y = Conv(x, w) + b with its backward. */
function convStage(c: RuleContext, x: string, w: ParamHandle, wField: string, bias: ParamHandle | undefined, g: Geometry, s: ConvShape, hint: string): ConvStage {
  const o = c.ops;
  const inputs = [x, w.name];
  if (bias) inputs.push(bias.name);
  const depthwise = s.group > 1 && s.outChannels === s.group;
  const y = depthwise && useNchwcDepthwise(s.group)
    ? nchwcDepthwiseConv(o, x, w.name, bias?.name, { kernel_shape: g.kernel, strides: g.strides, pads: g.pads }, s.group, hint)
    : o.op('Conv', inputs, hint, convAttributes(g, s.group));
  return {
    y,
    backward(dy, needInput) {
      if (bias?.trainable) c.paramGrad('bias', o.reduceSum(dy, [0, 2, 3], false, `${hint}_db`));
      if (w.trainable) c.paramGrad(wField, convFilterGrad(o, x, dy, g, s, `${hint}_dw`));
      return needInput ? convInputGrad(o, dy, w.name, g, s, `${hint}_dx`) : undefined;
    },
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
  const stage = convStage(c, x.name, kernel, 'kernel', bias, g, shape, c.layer.name);
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
  const stage = convStage(c, x.name, kernel, 'depthwiseKernel', bias, g, shape, c.layer.name);
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
