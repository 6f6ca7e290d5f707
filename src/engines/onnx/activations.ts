// Keras/tfjs activation functions as ONNX subgraphs. Names are tfjs's serialized class names.
import type { OnnxGraphBuilder, OnnxValue } from './graph_builder.js';
import { nchwAxis } from './graph_builder.js';

// Keras's SELU constants (keras.activations.selu).
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

type ActivationEmitter = (b: OnnxGraphBuilder, x: OnnxValue, hint: string) => OnnxValue;

const emitters: Record<string, ActivationEmitter> = {
  linear: (_b, x) => x,
  relu: (b, x, hint) => b.unary('Relu', x, hint),
  relu6: (b, x, hint) => clip(b, x, 0, 6, hint),
  sigmoid: (b, x, hint) => b.unary('Sigmoid', x, hint),
  tanh: (b, x, hint) => b.unary('Tanh', x, hint),
  elu: (b, x, hint) => b.unary('Elu', x, hint, { alpha: { float: 1 } }),
  selu: (b, x, hint) => b.unary('Selu', x, hint, { alpha: { float: SELU_ALPHA }, gamma: { float: SELU_SCALE } }),
  softplus: (b, x, hint) => b.unary('Softplus', x, hint),
  softsign: (b, x, hint) => b.unary('Softsign', x, hint),
  // tfjs's hard sigmoid: clip(0.2 x + 0.5, 0, 1), ONNX HardSigmoid's default parameters.
  hardSigmoid: (b, x, hint) => b.unary('HardSigmoid', x, hint, { alpha: { float: 0.2 }, beta: { float: 0.5 } }),
  swish: (b, x, hint) => b.binary('Mul', x, b.unary('Sigmoid', x, `${hint}_sigmoid`).name, hint),
  mish: (b, x, hint) => b.binary('Mul', x, b.unary('Tanh', b.unary('Softplus', x, `${hint}_softplus`), `${hint}_tanh`).name, hint),
  gelu: (b, x, hint) => {
    // x * 0.5 * (1 + erf(x / sqrt 2)), as tfjs computes it.
    const erf = b.unary('Erf', b.binary('Mul', x, b.scalar(Math.SQRT1_2), `${hint}_scaled`), `${hint}_erf`);
    const cdf = b.binary('Mul', b.binary('Add', erf, b.scalar(1), `${hint}_1p`), b.scalar(0.5), `${hint}_cdf`);
    return b.binary('Mul', x, cdf.name, hint);
  },
  softmax: (b, x, hint) => softmax(b, x, -1, hint),
  logSoftmax: (b, x, hint) => {
    const axis = x.layout === 'nchw' ? nchwAxis(3) : -1;
    return b.unary('LogSoftmax', x, hint, { axis });
  },
};

export const SUPPORTED_ACTIVATIONS = Object.keys(emitters);

export function hasActivation(name: string): boolean {
  return name in emitters;
}

/** Applies a tfjs activation (by its serialized name, null/undefined = linear). */
export function applyActivation(b: OnnxGraphBuilder, name: string | null | undefined, x: OnnxValue, hint: string): OnnxValue {
  const emitter = emitters[name ?? 'linear'];
  if (!emitter) throw new Error(`activation '${name}'`);
  return emitter(b, x, hint);
}

export function clip(b: OnnxGraphBuilder, x: OnnxValue, min: number, max: number, hint: string): OnnxValue {
  const [name] = b.node('Clip', [x.name, b.scalar(min), b.scalar(max)], hint);
  return { ...x, name };
}

/** Softmax over a Keras axis (negative counts from the end), in whatever layout x is stored. */
export function softmax(b: OnnxGraphBuilder, x: OnnxValue, kerasAxis: number, hint: string): OnnxValue {
  const rank = x.shape.length;
  const axis = kerasAxis < 0 ? rank + kerasAxis : kerasAxis;
  return b.unary('Softmax', x, hint, { axis: x.layout === 'nchw' ? nchwAxis(axis) : axis });
}
