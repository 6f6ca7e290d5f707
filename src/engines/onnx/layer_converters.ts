// One converter per Keras layer class: tfjs-layers layer + its ONNX inputs -> ONNX nodes.
// Converters read a layer's config (getConfig(), camelCase Keras kwargs) and its weights, and emit
// NCHW nodes for the convolutional trunk (see graph_builder.ts for the layout bookkeeping).
import type { tf, tfl } from '../tfjs/tf.js';
import { applyActivation, clip, softmax } from './activations.js';
import { nchwAxis, type OnnxGraphBuilder, type OnnxValue } from './graph_builder.js';

type Layer = tfl.layers.Layer;
// Layer configs are plain JSON-like dictionaries; each converter reads the kwargs it knows.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Config = Record<string, any>;

export interface ConverterContext {
  builder: OnnxGraphBuilder;
  layer: Layer;
  config: Config;
  inputs: OnnxValue[];
  /** Keras output shapes of this call of the layer (batch first). */
  outputShapes: (number | null)[][];
}

/** Returns the layer's outputs. Throws `UnsupportedConfig` for kwargs it cannot express. */
export type LayerConverter = (context: ConverterContext) => OnnxValue[];

/** A layer kwarg value the exporter does not handle; export.ts turns it into a TlkitError. */
export class UnsupportedConfig extends Error {}

const converters = new Map<string, LayerConverter>();

/**
 * Teaches the exporter a layer class (tlkit's own custom layers register theirs next to the layer).
 * The class name is the layer's `getClassName()`.
 */
export function registerOnnxConverter(className: string, converter: LayerConverter): void {
  converters.set(className, converter);
}

export function getOnnxConverter(className: string): LayerConverter | undefined {
  return converters.get(className);
}

export function supportedLayerClasses(): string[] {
  return [...converters.keys()].sort();
}

// ---------------------------------------------------------------- weights

interface Weight {
  data: Float32Array;
  shape: number[];
}

/** Reads a layer's weight variable by its tfjs field name ('kernel', 'gamma', ...). */
export function readWeight(layer: Layer, field: string): Weight | undefined {
  const variable = (layer as unknown as Record<string, { read(): tf.Tensor } | null | undefined>)[field];
  if (!variable) return undefined;
  const tensor = variable.read();
  return { data: Float32Array.from(tensor.dataSync() as Float32Array), shape: tensor.shape.slice() };
}

function requireWeight(layer: Layer, field: string): Weight {
  const weight = readWeight(layer, field);
  if (!weight) throw new UnsupportedConfig(`layer has no '${field}' weight (was it built?)`);
  return weight;
}

/** Conv kernel [kh, kw, in, out] (HWIO, Keras) -> [out, in, kh, kw] (OIHW, ONNX). */
function hwioToOihw(kernel: Weight): Weight {
  const [kh, kw, cin, cout] = kernel.shape;
  const out = new Float32Array(kernel.data.length);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      for (let c = 0; c < cin; c++) {
        const src = ((i * kw + j) * cin + c) * cout;
        for (let o = 0; o < cout; o++) out[((o * cin + c) * kh + i) * kw + j] = kernel.data[src + o];
      }
    }
  }
  return { data: out, shape: [cout, cin, kh, kw] };
}

/**
 * Depthwise kernel [kh, kw, C, M] -> grouped-conv weight [C*M, 1, kh, kw], group C.
 * TF orders depthwise outputs channel-major (c*M + m), as ONNX grouped convolution does.
 */
function depthwiseToGrouped(kernel: Weight): Weight {
  const [kh, kw, channels, multiplier] = kernel.shape;
  const out = new Float32Array(kernel.data.length);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      for (let c = 0; c < channels; c++) {
        for (let m = 0; m < multiplier; m++) {
          out[((c * multiplier + m) * kh + i) * kw + j] = kernel.data[((i * kw + j) * channels + c) * multiplier + m];
        }
      }
    }
  }
  return { data: out, shape: [channels * multiplier, 1, kh, kw] };
}

// ---------------------------------------------------------------- config helpers

function pair(value: number | number[] | undefined, fallback: number): [number, number] {
  if (value === undefined || value === null) return [fallback, fallback];
  if (typeof value === 'number') return [value, value];
  if (value.length === 1) return [value[0], value[0]];
  return [value[0], value[1]];
}

function requireChannelsLast(config: Config): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
    throw new UnsupportedConfig(`dataFormat=${JSON.stringify(config.dataFormat)} (only 'channelsLast' is exported)`);
  }
}

/**
 * Spatial attributes of a Conv/Pool node. TF's SAME pads (total) = max((ceil(in/s)-1)*s + k_eff - in, 0),
 * the odd pixel at the end; written out explicitly so the result never depends on a runtime's auto_pad.
 */
function spatialAttributes(
  inputShape: (number | null)[],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  padding: string,
): Record<string, number[] | string> {
  const attrs: Record<string, number[] | string> = { kernel_shape: kernel, strides };
  if (dilations[0] !== 1 || dilations[1] !== 1) attrs.dilations = dilations;
  if (padding === 'valid') {
    attrs.pads = [0, 0, 0, 0];
  } else if (padding === 'same') {
    const begin: number[] = [];
    const end: number[] = [];
    for (let axis = 0; axis < 2; axis++) {
      const size = inputShape[1 + axis];
      if (size === null) {
        // Unknown spatial size: ONNX SAME_UPPER is TF's SAME rule evaluated at run time.
        return { ...attrs, auto_pad: 'SAME_UPPER' };
      }
      const effective = (kernel[axis] - 1) * dilations[axis] + 1;
      const outSize = Math.ceil(size / strides[axis]);
      const total = Math.max((outSize - 1) * strides[axis] + effective - size, 0);
      begin.push(Math.floor(total / 2));
      end.push(total - Math.floor(total / 2));
    }
    attrs.pads = [...begin, ...end];
  } else {
    throw new UnsupportedConfig(`padding=${JSON.stringify(padding)} (accepted: 'valid', 'same')`);
  }
  return attrs;
}

function out(name: string, shape: (number | null)[], layout: OnnxValue['layout']): OnnxValue {
  return { name, shape, layout };
}

// ---------------------------------------------------------------- convolutions

function conv(
  c: ConverterContext,
  x: OnnxValue,
  weight: Weight,
  bias: Weight | undefined,
  group: number,
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  padding: string,
  hint: string,
  shape: (number | null)[],
): OnnxValue {
  const b = c.builder;
  const inputs = [x.name, b.addFloatInitializer(`${hint}/weight`, weight.data, weight.shape)];
  if (bias) inputs.push(b.addFloatInitializer(`${hint}/bias`, bias.data, bias.shape));
  const attrs = { ...spatialAttributes(x.shape, kernel, strides, dilations, padding), group };
  const [name] = b.node('Conv', inputs, hint, attrs);
  return out(name, shape, 'nchw');
}

registerOnnxConverter('Conv2D', (c) => {
  requireChannelsLast(c.config);
  const x = c.builder.toLayout(c.inputs[0], 'nchw');
  const kernel = requireWeight(c.layer, 'kernel');
  const bias = c.config.useBias ? requireWeight(c.layer, 'bias') : undefined;
  const y = conv(c, x, hwioToOihw(kernel), bias, 1, pair(c.config.kernelSize, 1), pair(c.config.strides, 1),
    pair(c.config.dilationRate, 1), c.config.padding, c.layer.name, c.outputShapes[0]);
  return [applyActivation(c.builder, c.config.activation, y, `${c.layer.name}_act`)];
});

registerOnnxConverter('DepthwiseConv2D', (c) => {
  requireChannelsLast(c.config);
  const x = c.builder.toLayout(c.inputs[0], 'nchw');
  const kernel = requireWeight(c.layer, 'depthwiseKernel');
  const bias = c.config.useBias ? requireWeight(c.layer, 'bias') : undefined;
  const y = conv(c, x, depthwiseToGrouped(kernel), bias, kernel.shape[2], pair(c.config.kernelSize, 1),
    pair(c.config.strides, 1), pair(c.config.dilationRate, 1), c.config.padding, c.layer.name, c.outputShapes[0]);
  return [applyActivation(c.builder, c.config.activation, y, `${c.layer.name}_act`)];
});

registerOnnxConverter('SeparableConv2D', (c) => {
  requireChannelsLast(c.config);
  const x = c.builder.toLayout(c.inputs[0], 'nchw');
  const depthwise = requireWeight(c.layer, 'depthwiseKernel');
  const pointwise = requireWeight(c.layer, 'pointwiseKernel');
  const bias = c.config.useBias ? requireWeight(c.layer, 'bias') : undefined;
  const [, , channels, multiplier] = depthwise.shape;
  const finalShape = c.outputShapes[0];
  // The depthwise step has the strides, dilation and padding; the pointwise step is a plain 1x1.
  const midShape = [finalShape[0], finalShape[1], finalShape[2], channels * multiplier];
  const mid = conv(c, x, depthwiseToGrouped(depthwise), undefined, channels, pair(c.config.kernelSize, 1),
    pair(c.config.strides, 1), pair(c.config.dilationRate, 1), c.config.padding, `${c.layer.name}/depthwise`, midShape);
  const y = conv(c, mid, hwioToOihw(pointwise), bias, 1, [1, 1], [1, 1], [1, 1], 'valid', `${c.layer.name}/pointwise`, finalShape);
  return [applyActivation(c.builder, c.config.activation, y, `${c.layer.name}_act`)];
});

// ---------------------------------------------------------------- normalization

registerOnnxConverter('BatchNormalization', (c) => {
  const b = c.builder;
  const x = c.inputs[0];
  const rank = x.shape.length;
  const axis = normalizeAxis(c.config.axis ?? -1, rank);
  const mean = requireWeight(c.layer, 'movingMean');
  const variance = requireWeight(c.layer, 'movingVariance');
  const channels = mean.data.length;
  // Keras BN with center=False / scale=False (InceptionV3 uses scale=False) has no beta / gamma.
  const gamma = c.config.scale === false ? undefined : readWeight(c.layer, 'gamma');
  const beta = c.config.center === false ? undefined : readWeight(c.layer, 'beta');
  const epsilon = c.config.epsilon ?? 1e-3;
  const name = c.layer.name;
  if (rank === 4 && axis === 3) {
    // The ONNX op, so that onnxruntime folds it into the preceding Conv.
    const xc = b.toLayout(x, 'nchw');
    const inputs = [
      xc.name,
      b.addFloatInitializer(`${name}/gamma`, gamma?.data ?? new Float32Array(channels).fill(1), [channels]),
      b.addFloatInitializer(`${name}/beta`, beta?.data ?? new Float32Array(channels), [channels]),
      b.addFloatInitializer(`${name}/moving_mean`, mean.data, [channels]),
      b.addFloatInitializer(`${name}/moving_variance`, variance.data, [channels]),
    ];
    const [y] = b.node('BatchNormalization', inputs, name, { epsilon: { float: epsilon } });
    return [out(y, c.outputShapes[0], 'nchw')];
  }
  // Any other axis: y = x * s + t with s, t broadcast along `axis` (in Keras layout).
  const xn = b.toLayout(x, 'native');
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let i = 0; i < channels; i++) {
    scale[i] = (gamma ? gamma.data[i] : 1) / Math.sqrt(variance.data[i] + epsilon);
    shift[i] = (beta ? beta.data[i] : 0) - mean.data[i] * scale[i];
  }
  const dims = broadcastDims(rank, axis, channels);
  const scaled = b.binary('Mul', xn, b.addFloatInitializer(`${name}/scale`, scale, dims), `${name}_scale`);
  return [b.binary('Add', scaled, b.addFloatInitializer(`${name}/shift`, shift, dims), name)];
});

/** Shape [C] placed at `axis` of a rank-`rank` tensor without its batch axis, for broadcasting. */
function broadcastDims(rank: number, axis: number, channels: number): number[] {
  const dims = new Array<number>(rank - 1).fill(1);
  dims[axis - 1] = channels;
  // Trailing-axis parameters broadcast as [C] directly.
  return axis === rank - 1 ? [channels] : dims;
}

function normalizeAxis(axis: number | number[], rank: number): number {
  const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : NaN) : axis;
  if (!Number.isInteger(a)) throw new UnsupportedConfig(`axis=${JSON.stringify(axis)} (a single axis is exported)`);
  const normalized = a < 0 ? rank + a : a;
  if (normalized <= 0 || normalized >= rank) throw new UnsupportedConfig(`axis=${a} for a rank-${rank} input`);
  return normalized;
}

// ---------------------------------------------------------------- activations

registerOnnxConverter('Activation', (c) => {
  return [applyActivation(c.builder, c.config.activation, c.inputs[0], c.layer.name)];
});

registerOnnxConverter('ReLU', (c) => {
  const { maxValue, negativeSlope = 0, threshold = 0 } = c.config;
  const x = c.inputs[0];
  const name = c.layer.name;
  if (threshold !== 0) throw new UnsupportedConfig(`threshold=${threshold} (only 0 is exported)`);
  if (negativeSlope !== 0) {
    if (maxValue !== undefined && maxValue !== null) throw new UnsupportedConfig('negativeSlope together with maxValue');
    return [c.builder.unary('LeakyRelu', x, name, { alpha: { float: negativeSlope } })];
  }
  if (maxValue === undefined || maxValue === null) return [c.builder.unary('Relu', x, name)];
  return [clip(c.builder, x, 0, maxValue, name)];
});

registerOnnxConverter('LeakyReLU', (c) => [c.builder.unary('LeakyRelu', c.inputs[0], c.layer.name, { alpha: { float: c.config.alpha ?? 0.3 } })]);
registerOnnxConverter('ELU', (c) => [c.builder.unary('Elu', c.inputs[0], c.layer.name, { alpha: { float: c.config.alpha ?? 1 } })]);
registerOnnxConverter('ThresholdedReLU', (c) => [c.builder.unary('ThresholdedRelu', c.inputs[0], c.layer.name, { alpha: { float: c.config.theta ?? 1 } })]);
registerOnnxConverter('Softmax', (c) => {
  const axis = c.config.axis ?? -1;
  if (Array.isArray(axis) && axis.length !== 1) throw new UnsupportedConfig(`axis=${JSON.stringify(axis)}`);
  return [softmax(c.builder, c.inputs[0], Array.isArray(axis) ? axis[0] : axis, c.layer.name)];
});

// ---------------------------------------------------------------- merges

/** Elementwise merges run channels-first when every input is rank 4, else in Keras layout. */
function mergeInputs(c: ConverterContext): OnnxValue[] {
  const all4d = c.inputs.every((v) => v.shape.length === 4);
  return c.inputs.map((v) => c.builder.toLayout(v, all4d ? 'nchw' : 'native'));
}

function variadic(opType: string): LayerConverter {
  return (c) => {
    const xs = mergeInputs(c);
    const [name] = c.builder.node(opType, xs.map((v) => v.name), c.layer.name);
    return [out(name, c.outputShapes[0], xs[0].layout)];
  };
}

registerOnnxConverter('Add', variadic('Sum'));
registerOnnxConverter('Maximum', variadic('Max'));
registerOnnxConverter('Minimum', variadic('Min'));
registerOnnxConverter('Average', variadic('Mean'));
registerOnnxConverter('Multiply', (c) => {
  const xs = mergeInputs(c);
  let acc = xs[0];
  for (let i = 1; i < xs.length; i++) {
    const [name] = c.builder.node('Mul', [acc.name, xs[i].name], i === xs.length - 1 ? c.layer.name : `${c.layer.name}_${i}`);
    acc = out(name, c.outputShapes[0], xs[0].layout);
  }
  return [acc];
});
registerOnnxConverter('Subtract', (c) => {
  const xs = mergeInputs(c);
  const [name] = c.builder.node('Sub', [xs[0].name, xs[1].name], c.layer.name);
  return [out(name, c.outputShapes[0], xs[0].layout)];
});

registerOnnxConverter('Concatenate', (c) => {
  const xs = mergeInputs(c);
  const rank = xs[0].shape.length;
  const axis = c.config.axis < 0 ? rank + c.config.axis : c.config.axis;
  const onnxAxis = xs[0].layout === 'nchw' ? nchwAxis(axis) : axis;
  const [name] = c.builder.node('Concat', xs.map((v) => v.name), c.layer.name, { axis: onnxAxis });
  return [out(name, c.outputShapes[0], xs[0].layout)];
});

// ---------------------------------------------------------------- padding, pooling

registerOnnxConverter('ZeroPadding2D', (c) => {
  requireChannelsLast(c.config);
  const b = c.builder;
  const x = b.toLayout(c.inputs[0], 'nchw');
  const [[top, bottom], [left, right]] = c.config.padding as [[number, number], [number, number]];
  const pads = b.addInt64Initializer(`${c.layer.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
  const [name] = b.node('Pad', [x.name, pads], c.layer.name, { mode: 'constant' });
  return [out(name, c.outputShapes[0], 'nchw')];
});

registerOnnxConverter('Cropping2D', (c) => {
  requireChannelsLast(c.config);
  const b = c.builder;
  const x = b.toLayout(c.inputs[0], 'nchw');
  const [[top, bottom], [left, right]] = c.config.cropping as [[number, number], [number, number]];
  const [, h, w] = x.shape;
  if (h === null || w === null) throw new UnsupportedConfig('Cropping2D needs a known input height and width');
  const starts = b.addInt64Initializer(`${c.layer.name}/starts`, [top, left]);
  const ends = b.addInt64Initializer(`${c.layer.name}/ends`, [h - bottom, w - right]);
  const axes = b.addInt64Initializer(`${c.layer.name}/axes`, [2, 3]);
  const [name] = b.node('Slice', [x.name, starts, ends, axes], c.layer.name);
  return [out(name, c.outputShapes[0], 'nchw')];
});

function pool(opType: 'MaxPool' | 'AveragePool'): LayerConverter {
  return (c) => {
    requireChannelsLast(c.config);
    const x = c.builder.toLayout(c.inputs[0], 'nchw');
    const poolSize = pair(c.config.poolSize, 2);
    const strides = pair(c.config.strides ?? c.config.poolSize, 2);
    const attrs: Record<string, number | number[] | string> = spatialAttributes(x.shape, poolSize, strides, [1, 1], c.config.padding);
    // TF's average pooling divides by the number of real (unpadded) pixels: count_include_pad = 0.
    if (opType === 'AveragePool') attrs.count_include_pad = 0;
    const [name] = c.builder.node(opType, [x.name], c.layer.name, attrs);
    return [out(name, c.outputShapes[0], 'nchw')];
  };
}

registerOnnxConverter('MaxPooling2D', pool('MaxPool'));
registerOnnxConverter('AveragePooling2D', pool('AveragePool'));

function globalPool(opType: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerConverter {
  return (c) => {
    requireChannelsLast(c.config);
    const b = c.builder;
    const x = b.toLayout(c.inputs[0], 'nchw');
    const [pooled] = b.node(opType, [x.name], `${c.layer.name}_4d`);
    if (c.config.keepDims) {
      return [out(pooled, c.outputShapes[0], 'nchw')];
    }
    const [name] = b.node('Flatten', [pooled], c.layer.name, { axis: 1 });
    return [out(name, c.outputShapes[0], 'native')];
  };
}

registerOnnxConverter('GlobalAveragePooling2D', globalPool('GlobalAveragePool'));
registerOnnxConverter('GlobalMaxPooling2D', globalPool('GlobalMaxPool'));

// ---------------------------------------------------------------- dense, reshaping

registerOnnxConverter('Dense', (c) => {
  const b = c.builder;
  // Dense acts on the last Keras axis, so the input must be in Keras order.
  const x = b.toLayout(c.inputs[0], 'native');
  const kernel = requireWeight(c.layer, 'kernel');
  const bias = c.config.useBias ? requireWeight(c.layer, 'bias') : undefined;
  const name = c.layer.name;
  const w = b.addFloatInitializer(`${name}/kernel`, kernel.data, kernel.shape);
  let y: string;
  if (x.shape.length === 2 && bias) {
    [y] = b.node('Gemm', [x.name, w, b.addFloatInitializer(`${name}/bias`, bias.data, bias.shape)], name);
  } else {
    [y] = b.node('MatMul', [x.name, w], bias ? `${name}_matmul` : name);
    if (bias) [y] = b.node('Add', [y, b.addFloatInitializer(`${name}/bias`, bias.data, bias.shape)], name);
  }
  return [applyActivation(b, c.config.activation, out(y, c.outputShapes[0], 'native'), `${name}_act`)];
});

registerOnnxConverter('Flatten', (c) => {
  // Keras flattens in channels-last order, so a channels-first value goes back to NHWC first.
  const x = c.builder.toLayout(c.inputs[0], 'native');
  if (x.shape.length === 2) return [x];
  const [name] = c.builder.node('Flatten', [x.name], c.layer.name, { axis: 1 });
  return [out(name, c.outputShapes[0], 'native')];
});

registerOnnxConverter('Reshape', (c) => {
  const x = c.builder.toLayout(c.inputs[0], 'native');
  // 0 copies the batch size from the input (ONNX Reshape with allowzero = 0).
  const shape = c.builder.addInt64Initializer(`${c.layer.name}/shape`, [0, ...(c.config.targetShape as number[])]);
  const [name] = c.builder.node('Reshape', [x.name, shape], c.layer.name);
  return [out(name, c.outputShapes[0], 'native')];
});

registerOnnxConverter('Permute', (c) => {
  const x = c.builder.toLayout(c.inputs[0], 'native');
  const [name] = c.builder.node('Transpose', [x.name], c.layer.name, { perm: [0, ...(c.config.dims as number[])] });
  return [out(name, c.outputShapes[0], 'native')];
});

registerOnnxConverter('Rescaling', (c) => {
  const b = c.builder;
  // At the start of an image model: go channels-first here so the input is transposed once.
  const x = b.preferNCHW(c.inputs[0]);
  let y = b.binary('Mul', x, b.scalar(c.config.scale), `${c.layer.name}_scale`);
  if (c.config.offset) y = b.binary('Add', y, b.scalar(c.config.offset), c.layer.name);
  return [{ ...y, shape: c.outputShapes[0] }];
});

// Inference-time identities: regularisers and noise layers do nothing at predict time.
for (const className of ['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Masking']) {
  registerOnnxConverter(className, (c) => [c.inputs[0]]);
}

// tlkit's Keras-like preprocessing Normalization (src/models/layers/normalization.ts, EfficientNet):
// y = (x - mean) / max(sqrt(variance), 1e-7) per kept axis, folded to one Mul and one Add.
const NORMALIZATION_EPSILON = 1e-7;
registerOnnxConverter('Normalization', (c) => {
  const b = c.builder;
  const x = c.inputs[0];
  const rank = x.shape.length;
  const axes = (c.config.axis ?? [-1]) as number[];
  if (axes.length !== 1) throw new UnsupportedConfig(`axis=${JSON.stringify(axes)} (a single axis is exported)`);
  const axis = normalizeAxis(axes[0], rank);
  const mean = requireWeight(c.layer, 'mean');
  const variance = requireWeight(c.layer, 'variance');
  const size = mean.data.length;
  const scale = new Float32Array(size);
  const shift = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    scale[i] = 1 / Math.max(Math.sqrt(variance.data[i]), NORMALIZATION_EPSILON);
    shift[i] = -mean.data[i] * scale[i];
  }
  const name = c.layer.name;
  // Channels of an image go channels-first here, so the input Transpose happens once, before it.
  const channelsFirst = rank === 4 && axis === 3;
  const xl = b.toLayout(x, channelsFirst ? 'nchw' : 'native');
  const dims = channelsFirst ? [size, 1, 1] : broadcastDims(rank, axis, size);
  const scaled = b.binary('Mul', xl, b.addFloatInitializer(`${name}/scale`, scale, dims), `${name}_scale`);
  return [b.binary('Add', scaled, b.addFloatInitializer(`${name}/shift`, shift, dims), name)];
});
