// Keras/tfjs activations (the `activation` kwarg of Conv2D/Dense..., and the activation layers): one
// ONNX forward each, used by export and by the training graph, and beside it the backward of those the
// training graph differentiates. Each backward reads the activation's output where it can (relu,
// relu6, sigmoid, tanh, softmax), so the pre-activation tensor need not stay alive until the backward.
import { nchwAxis, type OnnxGraphBuilder, type OnnxValue } from '../graph_builder.js';
import { like, type Ops } from '../training/ops.js';
import { UnsupportedLayer, type LayerTable, type RuleContext, type RuleResult } from './table.js';

// Keras's SELU constants (keras.activations.selu).
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

interface Emitted {
  y: OnnxValue;
  /** An intermediate value the backward reuses (swish's sigmoid). */
  kept?: string;
}

interface Activation {
  forward(b: OnnxGraphBuilder, x: OnnxValue, hint: string): Emitted;
  /** dL/dx from dL/dy (names); absent: not differentiated by the training graph. */
  backward?(o: Ops, x: OnnxValue, forward: Emitted, dy: string, hint: string): string;
  /** The loss differentiates through this activation itself (dL/dlogits) when it ends the model. */
  logits?: 'softmax' | 'sigmoid';
}

const FLOAT = 1; // onnx.TensorProto.DataType.FLOAT
const INDICATOR_SCALE = 2 ** 100;

/**
 * The indicator of y > 0 as float 0/1 in one pass: HardSigmoid(2^100 y) = max(0, min(1, 2^100 y)). Exact
 * except for 0 < y < 2^-100 (7.9e-31), where it is a fraction. Faster than Greater + Cast
 * (bench/op_forms.ts, 16x96x112x112: ReLU backward 23.7 vs 33.0 ms) at the same memory (one float mask).
 */
function positive(o: Ops, y: string, hint: string): string {
  return o.op('HardSigmoid', [y], hint, { alpha: { float: INDICATOR_SCALE }, beta: { float: 0 } });
}

function channelAxis(x: OnnxValue): number {
  const rank = x.shape.length;
  return x.layout === 'nchw' ? nchwAxis(rank - 1) : rank - 1;
}

const unary = (opType: string, attributes = {}) => (b: OnnxGraphBuilder, x: OnnxValue, hint: string): Emitted => ({ y: b.unary(opType, x, hint, attributes) });

const ACTIVATIONS: Record<string, Activation> = {
  linear: { forward: (_b, x) => ({ y: x }), backward: (_o, _x, _f, dy) => dy },
  relu: {
    forward: unary('Relu'),
    backward: (o, _x, f, dy, hint) => o.mul(dy, positive(o, f.y.name, `${hint}_pos`), `${hint}_grad`),
  },
  relu6: {
    forward: (b, x, hint) => ({ y: clip(b, x, 0, 6, hint) }),
    backward: (o, _x, f, dy, hint) => {
      // Open interval (0, 6): tfjs passes the gradient where 0 < x <= 6; y cannot tell x = 6 from x > 6.
      // The mask stays boolean until the Cast: two HardSigmoid indicators were as fast (within noise)
      // but held two float masks at once, 1.80 -> 2.11 GB peak RSS for mobilenet_v2 224 b16.
      const y = f.y.name;
      const inside = o.op('And', [o.op('Greater', [y, o.scalar(0)], `${hint}_pos`), o.op('Less', [y, o.scalar(6)], `${hint}_lt6`)], `${hint}_in`);
      return o.mul(dy, o.op('Cast', [inside], `${hint}_mask`, { to: FLOAT }), `${hint}_grad`);
    },
  },
  sigmoid: {
    forward: unary('Sigmoid'),
    logits: 'sigmoid',
    backward: (o, _x, f, dy, hint) => o.mul(dy, o.mul(f.y.name, o.sub(o.scalar(1), f.y.name, `${hint}_1my`), `${hint}_slope`), `${hint}_grad`),
  },
  tanh: {
    forward: unary('Tanh'),
    backward: (o, _x, f, dy, hint) => o.mul(dy, o.sub(o.scalar(1), o.mul(f.y.name, f.y.name, `${hint}_y2`), `${hint}_slope`), `${hint}_grad`),
  },
  elu: { forward: unary('Elu', { alpha: { float: 1 } }) },
  selu: { forward: unary('Selu', { alpha: { float: SELU_ALPHA }, gamma: { float: SELU_SCALE } }) },
  softplus: { forward: unary('Softplus') },
  softsign: { forward: unary('Softsign') },
  // tfjs's hard sigmoid: clip(0.2 x + 0.5, 0, 1), ONNX HardSigmoid's default parameters.
  hardSigmoid: { forward: unary('HardSigmoid', { alpha: { float: 0.2 }, beta: { float: 0.5 } }) },
  swish: {
    forward: (b, x, hint) => {
      const s = b.unary('Sigmoid', x, `${hint}_sigmoid`);
      return { y: b.binary('Mul', x, s.name, hint), kept: s.name };
    },
    backward: (o, _x, f, dy, hint) => {
      // d(x s)/dx = s + x s (1 - s) = s + y - y s
      const s = f.kept!;
      const y = f.y.name;
      return o.mul(dy, o.sub(o.add(s, y, `${hint}_s_plus_y`), o.mul(y, s, `${hint}_ys`), `${hint}_slope`), `${hint}_grad`);
    },
  },
  mish: { forward: (b, x, hint) => ({ y: b.binary('Mul', x, b.unary('Tanh', b.unary('Softplus', x, `${hint}_softplus`), `${hint}_tanh`).name, hint) }) },
  gelu: {
    forward: (b, x, hint) => {
      // x * 0.5 * (1 + erf(x / sqrt 2)), as tfjs computes it.
      const erf = b.unary('Erf', b.binary('Mul', x, b.scalar(Math.SQRT1_2), `${hint}_scaled`), `${hint}_erf`);
      const cdf = b.binary('Mul', b.binary('Add', erf, b.scalar(1), `${hint}_1p`), b.scalar(0.5), `${hint}_cdf`);
      return { y: b.binary('Mul', x, cdf.name, hint) };
    },
  },
  softmax: {
    forward: (b, x, hint) => ({ y: softmax(b, x, -1, hint) }),
    logits: 'softmax',
    backward: (o, x, f, dy, hint) => {
      const y = f.y.name;
      const dot = o.reduceSum(o.mul(dy, y, `${hint}_dyy`), [channelAxis(x)], true, `${hint}_dot`);
      return o.mul(y, o.sub(dy, dot, `${hint}_centered`), `${hint}_grad`);
    },
  },
  logSoftmax: { forward: (b, x, hint) => ({ y: b.unary('LogSoftmax', x, hint, { axis: x.layout === 'nchw' ? nchwAxis(3) : -1 }) }) },
};

export const SUPPORTED_ACTIVATIONS = Object.keys(ACTIVATIONS);
export const TRAINABLE_ACTIVATIONS = SUPPORTED_ACTIVATIONS.filter((name) => ACTIVATIONS[name].backward);

/** The inference forward of a tfjs activation (by its serialized name, null/undefined = linear). */
export function emitActivation(b: OnnxGraphBuilder, name: string | null | undefined, x: OnnxValue, hint: string): OnnxValue {
  const activation = ACTIVATIONS[name ?? 'linear'];
  if (!activation) throw new UnsupportedLayer(`activation '${name}'`);
  return activation.forward(b, x, hint).y;
}

export interface Activated {
  y: OnnxValue;
  /** dL/dx from dL/dy. */
  backward(dy: OnnxValue | undefined): OnnxValue;
}

/** The same forward in the training graph, with its backward. */
export function activate(c: RuleContext, name: string | null | undefined, x: OnnxValue, hint: string): Activated {
  const act = name ?? 'linear';
  const activation = ACTIVATIONS[act];
  const backward = activation?.backward;
  if (!backward) throw new UnsupportedLayer(`activation '${act}' has no training rule (trainable: ${TRAINABLE_ACTIVATIONS.join(', ')})`);
  const forward = activation.forward(c.ops.b, x, hint);
  if (act === 'linear') {
    return { y: x, backward: (dy) => needGradient(dy, hint) };
  }
  if (activation.logits) c.registerLogits(forward.y, x, activation.logits);
  return {
    y: forward.y,
    backward: (dy) => {
      // At the model output the loss already gave dL/dlogits.
      const direct = activation.logits && c.logitGrad(forward.y);
      if (direct) return direct;
      return like(x, backward(c.ops, x, forward, needGradient(dy, hint).name, hint));
    },
  };
}

function needGradient(dy: OnnxValue | undefined, hint: string): OnnxValue {
  if (!dy) throw new Error(`internal: no gradient for the output of ${hint}`);
  return dy;
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

function single(a: Activated): RuleResult {
  return { outputs: [a.y], backward: (dys) => [a.backward(dys[0])] };
}

/** ReLU's kwargs as the activation they amount to, when they amount to one of the table's. */
function reluActivation(config: { maxValue?: number | null; negativeSlope?: number; threshold?: number }): 'relu' | 'relu6' | undefined {
  const { maxValue, negativeSlope = 0, threshold = 0 } = config;
  if (threshold !== 0 || negativeSlope !== 0) return undefined;
  if (maxValue === undefined || maxValue === null) return 'relu';
  return maxValue === 6 ? 'relu6' : undefined;
}

export const ACTIVATION_LAYERS: LayerTable[] = [
  {
    className: 'Activation',
    forward: (c) => [emitActivation(c.builder, c.config.activation, c.inputs[0], c.layer.name)],
    gradient: (c) => single(activate(c, c.config.activation, c.inputs[0], c.layer.name)),
  },
  {
    className: 'ReLU',
    forward: (c) => {
      const { maxValue, negativeSlope = 0, threshold = 0 } = c.config;
      const x = c.inputs[0];
      const name = c.layer.name;
      if (threshold !== 0) throw new UnsupportedLayer(`threshold=${threshold} (only 0 is exported)`);
      if (negativeSlope !== 0) {
        if (maxValue !== undefined && maxValue !== null) throw new UnsupportedLayer('negativeSlope together with maxValue');
        return [c.builder.unary('LeakyRelu', x, name, { alpha: { float: negativeSlope } })];
      }
      const act = reluActivation(c.config);
      return [act ? emitActivation(c.builder, act, x, name) : clip(c.builder, x, 0, maxValue, name)];
    },
    gradient: (c) => {
      const { maxValue, negativeSlope = 0, threshold = 0 } = c.config;
      const act = reluActivation(c.config);
      if (!act) throw new UnsupportedLayer(`ReLU with threshold=${threshold}, negativeSlope=${negativeSlope}, maxValue=${maxValue} (trainable: threshold 0, negativeSlope 0, maxValue none or 6)`);
      return single(activate(c, act, c.inputs[0], c.layer.name));
    },
  },
  { className: 'LeakyReLU', forward: (c) => [c.builder.unary('LeakyRelu', c.inputs[0], c.layer.name, { alpha: { float: c.config.alpha ?? 0.3 } })] },
  { className: 'ELU', forward: (c) => [c.builder.unary('Elu', c.inputs[0], c.layer.name, { alpha: { float: c.config.alpha ?? 1 } })] },
  { className: 'ThresholdedReLU', forward: (c) => [c.builder.unary('ThresholdedRelu', c.inputs[0], c.layer.name, { alpha: { float: c.config.theta ?? 1 } })] },
  {
    className: 'Softmax',
    forward: (c) => {
      const axis = c.config.axis ?? -1;
      if (Array.isArray(axis) && axis.length !== 1) throw new UnsupportedLayer(`axis=${JSON.stringify(axis)}`);
      return [softmax(c.builder, c.inputs[0], Array.isArray(axis) ? axis[0] : axis, c.layer.name)];
    },
    gradient: (c) => {
      const axis = Array.isArray(c.config.axis) ? c.config.axis[0] : (c.config.axis ?? -1);
      const rank = c.inputs[0].shape.length;
      if (axis !== -1 && axis !== rank - 1) throw new UnsupportedLayer(`Softmax axis=${axis} (only the last axis is trainable)`);
      return single(activate(c, 'softmax', c.inputs[0], c.layer.name));
    },
  },
];
