// Conv2D, DepthwiseConv2D and SeparableConv2D: NCHW convolutions (the input is transposed once, at the
// start of the trunk), then the layer's activation. A layer is one or two convolution stages; each
// stage's forward is `emitConv`, in export and in training alike.
import type { OnnxValue } from '../graph_builder.js';
import { convFilterGrad, convInputGrad, useNchwcDepthwise, type ConvShape } from '../training/conv_gradients.js';
import { nchwcDepthwiseConv } from '../training/nchwc.js';
import type { ParamLayout } from '../training/params.js';
import { activate, emitActivation } from './activation.js';
import { batchNormScale, batchNormShift } from './normalization.js';
import { geometry, pair, requireChannelsLast, spatialAttributes, type SpatialAttributes } from './geometry.js';
import { requireValue, UnsupportedLayer, type Config, type FoldedNorm, type ForwardContext, type LayerTable, type ParamHandle, type RuleContext } from './table.js';

/** One convolution of a layer: which weight, how it is grouped and strided, and its name in the graph. */
interface Stage {
  weightField: string;
  layout: ParamLayout;
  withBias: boolean;
  /** Graph name of the stage's output; `${hint}/weight` and `${hint}/bias` name its exported weights. */
  hint: string;
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: string;
  shape: ConvShape;
  /** Keras NHWC shape of the stage's input. */
  inShape: (number | null)[];
}

/** The stages of a layer call, from its config and input shape. */
function stages(c: ForwardContext, inShape: (number | null)[]): Stage[] {
  const config = c.config;
  const name = c.layer.name;
  const batch = inShape[0] as number;
  const channels = inShape[3] as number;
  const spatial = { kernel: pair(config.kernelSize, 1), strides: pair(config.strides, 1), dilations: pair(config.dilationRate, 1), padding: config.padding as string, inShape };
  const className = c.layer.getClassName();
  if (className === 'Conv2D') {
    return [{ weightField: 'kernel', layout: 'oihw', withBias: config.useBias, hint: name, ...spatial, shape: { batch, inChannels: channels, outChannels: config.filters, group: 1 } }];
  }
  const mid = channels * (config.depthMultiplier ?? 1);
  const depthwise: Stage = { weightField: 'depthwiseKernel', layout: 'grouped', withBias: config.useBias, hint: name, ...spatial, shape: { batch, inChannels: channels, outChannels: mid, group: channels } };
  if (className === 'DepthwiseConv2D') return [depthwise];
  // SeparableConv2D: the depthwise step has the strides, dilation and padding; the pointwise step is a plain 1x1.
  const out = c.outputShapes[0];
  return [
    { ...depthwise, hint: `${name}/depthwise`, withBias: false },
    {
      weightField: 'pointwiseKernel',
      layout: 'oihw',
      withBias: config.useBias,
      hint: `${name}/pointwise`,
      kernel: [1, 1],
      strides: [1, 1],
      dilations: [1, 1],
      padding: 'valid',
      inShape: [out[0], out[1], out[2], mid],
      shape: { batch, inChannels: mid, outChannels: config.filters, group: 1 },
    },
  ];
}

function attributesOf(c: ForwardContext, s: Stage, first: boolean): SpatialAttributes {
  return spatialAttributes(s.inShape, s.kernel, s.strides, s.dilations, s.padding, first ? c.inputPadding : undefined);
}

/** The forward of one stage: y = Conv(x, weight) + bias, group from the stage. */
function emitConv(c: ForwardContext, s: Stage, x: string, weight: string, bias: string | undefined, attrs: SpatialAttributes): string {
  const depthwise = s.shape.group > 1 && s.shape.outChannels === s.shape.group;
  // Training graph only: onnxruntime's blocked kernels take the depthwise weights computed in the graph.
  if (c.blockedDepthwise && depthwise && useNchwcDepthwise(s.shape.group) && attrs.pads && !attrs.dilations) {
    return nchwcDepthwiseConv(c.ops, x, weight, bias, { kernel_shape: attrs.kernel_shape, strides: attrs.strides, pads: attrs.pads }, s.shape.group, s.hint);
  }
  const inputs = [x, weight];
  if (bias) inputs.push(bias);
  return c.builder.node('Conv', inputs, s.hint, { ...attrs, group: s.shape.group } as Record<string, number | number[] | string>)[0];
}

function nchw(shape: (number | null)[], name: string): OnnxValue {
  return { name, shape, layout: 'nchw' };
}

/** The inference forward (export): weights from the context, every stage, the activation. */
function convForward(c: ForwardContext): OnnxValue[] {
  requireChannelsLast(c.config);
  const x = c.builder.toLayout(c.inputs[0], 'nchw');
  let y = x.name;
  stages(c, x.shape).forEach((s, i) => {
    const weight = requireValue(c.weight(s.weightField, s.layout, `${s.hint}/weight`), s.weightField);
    const bias = s.withBias ? requireValue(c.weight('bias', 'plain', `${s.hint}/bias`), 'bias') : undefined;
    y = emitConv(c, s, y, weight, bias, attributesOf(c, s, i === 0));
  });
  return [emitActivation(c.builder, c.config.activation, nchw(c.outputShapes[0], y), `${c.layer.name}_act`)];
}

function checkTrainable(config: Config): void {
  requireChannelsLast(config);
  const [d0, d1] = pair(config.dilationRate, 1);
  if (d0 !== 1 || d1 !== 1) throw new UnsupportedLayer(`dilationRate=${JSON.stringify(config.dilationRate)} (only 1 is trainable)`);
}

interface TrainedStage {
  y: string;
  /** Emits the stage's weight gradients and returns dx (when asked). */
  backward(dy: string, needInput: boolean): string | undefined;
}

/**
 * One stage in the training graph: the same forward, with the weights as graph inputs, and its backward.
 * With `norm` (a frozen BatchNorm after it, y' = y * scale + shift per output channel) the stage
 * computes y' = Conv(x, w * scale) + (b * scale + shift): dy is then dL/dy', the weight gradient is
 * filterGrad(x, dy) * scale, the bias gradient sum(dy) * scale, and dx flows through the scaled weight.
 */
function trainStage(c: RuleContext, s: Stage, x: string, first: boolean, norm?: FoldedNorm): TrainedStage {
  const o = c.ops;
  const w = c.param(s.weightField, s.layout)!;
  const bias = s.withBias ? c.param('bias') : undefined;
  const g = geometry(s.inShape, s.kernel, s.strides, s.padding, { explicitPads: first ? c.inputPadding : undefined });
  const folded = norm && foldNorm(c, norm, w.name, bias?.name, s.shape.outChannels, s.hint);
  const weight = folded?.weight ?? w.name;
  const y = emitConv(c, s, x, weight, folded?.bias ?? bias?.name, attributesOf(c, s, first));
  const unscale = (grad: string, scale: string | undefined, what: string): string => (scale ? o.mul(grad, scale, `${s.hint}_${what}_unfolded`) : grad);
  return {
    y,
    backward(dy, needInput) {
      if (bias?.trainable) c.paramGrad('bias', unscale(o.reduceSum(dy, [0, 2, 3], false, `${s.hint}_db`), folded?.scale, 'db'));
      if (w.trainable) c.paramGrad(s.weightField, unscale(convFilterGrad(o, x, dy, g, s.shape, `${s.hint}_dw`), folded?.scaleOIHW, 'dw'));
      return needInput ? convInputGrad(o, dy, weight, g, s.shape, `${s.hint}_dx`) : undefined;
    },
  };
}

/**
 * Inference-mode BatchNorm as scale = gamma / sqrt(var + eps), shift = beta - mean * scale, applied to
 * the convolution's weight (output channels on axis 0, OIHW and grouped layouts alike) and bias.
 */
function foldNorm(c: RuleContext, norm: FoldedNorm, w: string, bias: string | undefined, outChannels: number, hint: string): { weight: string; bias: string; scale: string; scaleOIHW: string } {
  const o = c.ops;
  const scale = batchNormScale(o, norm.param('gamma')?.name, (norm.param('movingVariance') as ParamHandle).name, norm.epsilon, `${hint}_bn`);
  const shift = batchNormShift(o, norm.param('beta')?.name, (norm.param('movingMean') as ParamHandle).name, scale, `${hint}_bn`);
  const scaleOIHW = o.reshape(scale, [outChannels, 1, 1, 1], `${hint}_bn_scale_oihw`);
  return {
    weight: o.mul(w, scaleOIHW, `${hint}_w_folded`),
    bias: bias ? o.add(o.mul(bias, scale, `${hint}_b_scaled`), shift, `${hint}_b_folded`) : shift,
    scale,
    scaleOIHW,
  };
}

/** The training graph's rule: every stage (the last one folding a frozen BatchNorm after a single-stage layer), the activation, and back. */
function convGradient(c: RuleContext) {
  checkTrainable(c.config);
  const x = c.ops.b.toLayout(c.inputs[0], 'nchw');
  const layerStages = stages(c, x.shape);
  const trained: TrainedStage[] = [];
  let y = x.name;
  layerStages.forEach((s, i) => {
    const stage = trainStage(c, s, y, i === 0, layerStages.length === 1 ? c.foldedNorm : undefined);
    trained.push(stage);
    y = stage.y;
  });
  const act = activate(c, c.config.activation, nchw(c.outputShapes[0], y), `${c.layer.name}_act`);
  return {
    outputs: [act.y],
    backward: (dys: (OnnxValue | undefined)[], need: boolean[]) => {
      let dy: string | undefined = act.backward(dys[0]).name;
      for (let i = trained.length - 1; i >= 0 && dy !== undefined; i--) dy = trained[i].backward(dy, i > 0 || need[0]);
      return [dy === undefined ? undefined : nchw(x.shape, dy)];
    },
  };
}

export const CONV_LAYERS: LayerTable[] = ['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D'].map((className) => ({ className, forward: convForward, gradient: convGradient }));
