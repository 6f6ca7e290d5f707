// Activations (fused in Conv2D/Dense or as their own layers) with their backward formulas. Each
// backward reads the activation's output where it can (relu, relu6, sigmoid, tanh, softmax), so the
// pre-activation tensor need not stay alive until the backward pass.
import { nchwAxis, type OnnxValue } from '../graph_builder.js';
import { like, type Ops } from './ops.js';
import { registerGradientRule, UnsupportedLayer, type RuleContext, type RuleResult } from './rules.js';

export interface Activated {
  y: OnnxValue;
  /** dL/dx from dL/dy. */
  backward(dy: OnnxValue | undefined): OnnxValue;
}

export const TRAINABLE_ACTIVATIONS = ['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'swish', 'softmax'];

function channelAxis(x: OnnxValue): number {
  const rank = x.shape.length;
  return x.layout === 'nchw' ? nchwAxis(rank - 1) : rank - 1;
}

/**
 * The indicator of y > 0 as float 0/1 in one pass: HardSigmoid(2^100 y) = max(0, min(1, 2^100 y)). Exact
 * except for 0 < y < 2^-100 (7.9e-31), where it is a fraction. Faster than Greater + Cast
 * (bench/op_forms.ts, 16x96x112x112: ReLU backward 23.7 vs 33.0 ms) at the same memory (one float mask).
 */
function positive(o: Ops, y: string, hint: string): string {
  return o.op('HardSigmoid', [y], hint, { alpha: { float: INDICATOR_SCALE }, beta: { float: 0 } });
}

const INDICATOR_SCALE = 2 ** 100;
const FLOAT = 1; // onnx.TensorProto.DataType.FLOAT

/** Applies activation `name` (tfjs serialized name; null = linear) to x. */
export function activate(c: RuleContext, name: string | null | undefined, x: OnnxValue, hint: string): Activated {
  const o = c.ops;
  const act = name ?? 'linear';
  const withLossShortcut = (y: OnnxValue, backward: (dy: OnnxValue) => OnnxValue): Activated => ({
    y,
    backward: (dy) => {
      const direct = c.logitGrad(y);
      if (direct) return direct;
      if (!dy) throw new Error(`internal: no gradient for ${y.name}`);
      return backward(dy);
    },
  });
  const need = (dy: OnnxValue | undefined): OnnxValue => {
    if (!dy) throw new Error(`internal: no gradient for the output of ${hint}`);
    return dy;
  };
  switch (act) {
    case 'linear':
      return { y: x, backward: (dy) => need(dy) };
    case 'relu': {
      const y = like(x, o.op('Relu', [x.name], hint));
      return {
        y,
        backward: (dy) => like(x, o.mul(need(dy).name, positive(o, y.name, `${hint}_pos`), `${hint}_grad`)),
      };
    }
    case 'relu6': {
      const y = like(x, o.op('Clip', [x.name, o.scalar(0), o.scalar(6)], hint));
      return {
        y,
        backward: (dy) => {
          // Open interval (0, 6): tfjs passes the gradient where 0 < x <= 6; y cannot tell x = 6 from x > 6.
          // The mask stays boolean until the Cast: two HardSigmoid indicators were as fast (within noise)
          // but held two float masks at once, 1.80 -> 2.11 GB peak RSS for mobilenet_v2 224 b16.
          const inside = o.op('And', [o.op('Greater', [y.name, o.scalar(0)], `${hint}_pos`), o.op('Less', [y.name, o.scalar(6)], `${hint}_lt6`)], `${hint}_in`);
          return like(x, o.mul(need(dy).name, o.op('Cast', [inside], `${hint}_mask`, { to: FLOAT }), `${hint}_grad`));
        },
      };
    }
    case 'sigmoid': {
      const y = like(x, o.op('Sigmoid', [x.name], hint));
      c.registerLogits(y, x, 'sigmoid');
      return withLossShortcut(y, (dy) => {
        const slope = o.mul(y.name, o.sub(o.scalar(1), y.name, `${hint}_1my`), `${hint}_slope`);
        return like(x, o.mul(dy.name, slope, `${hint}_grad`));
      });
    }
    case 'tanh': {
      const y = like(x, o.op('Tanh', [x.name], hint));
      return {
        y,
        backward: (dy) => like(x, o.mul(need(dy).name, o.sub(o.scalar(1), o.mul(y.name, y.name, `${hint}_y2`), `${hint}_slope`), `${hint}_grad`)),
      };
    }
    case 'swish': {
      const s = o.op('Sigmoid', [x.name], `${hint}_sigmoid`);
      const y = like(x, o.mul(x.name, s, hint));
      return {
        y,
        backward: (dy) => {
          // d(x s)/dx = s + x s (1 - s) = s + y - y s
          const slope = o.sub(o.add(s, y.name, `${hint}_s_plus_y`), o.mul(y.name, s, `${hint}_ys`), `${hint}_slope`);
          return like(x, o.mul(need(dy).name, slope, `${hint}_grad`));
        },
      };
    }
    case 'softmax': {
      const axis = channelAxis(x);
      const y = like(x, o.op('Softmax', [x.name], hint, { axis }));
      c.registerLogits(y, x, 'softmax');
      return withLossShortcut(y, (dy) => {
        const dot = o.reduceSum(o.mul(dy.name, y.name, `${hint}_dyy`), [axis], true, `${hint}_dot`);
        return like(x, o.mul(y.name, o.sub(dy.name, dot, `${hint}_centered`), `${hint}_grad`));
      });
    }
    default:
      throw new UnsupportedLayer(`activation '${act}' has no training rule (trainable: ${TRAINABLE_ACTIVATIONS.join(', ')})`);
  }
}

function single(c: RuleContext, a: Activated): RuleResult {
  return { outputs: [a.y], backward: (dys) => [a.backward(dys[0])] };
}

registerGradientRule('Activation', (c) => single(c, activate(c, c.config.activation, c.inputs[0], c.layer.name)));

registerGradientRule('ReLU', (c) => {
  const { maxValue, negativeSlope = 0, threshold = 0 } = c.config;
  if (threshold !== 0 || negativeSlope !== 0) throw new UnsupportedLayer(`ReLU with threshold=${threshold}, negativeSlope=${negativeSlope} (only 0 is trainable)`);
  if (maxValue === undefined || maxValue === null) return single(c, activate(c, 'relu', c.inputs[0], c.layer.name));
  if (maxValue !== 6) throw new UnsupportedLayer(`ReLU maxValue=${maxValue} (trainable: none or 6)`);
  return single(c, activate(c, 'relu6', c.inputs[0], c.layer.name));
});

registerGradientRule('Softmax', (c) => {
  const axis = Array.isArray(c.config.axis) ? c.config.axis[0] : (c.config.axis ?? -1);
  const rank = c.inputs[0].shape.length;
  if (axis !== -1 && axis !== rank - 1) throw new UnsupportedLayer(`Softmax axis=${axis} (only the last axis is trainable)`);
  return single(c, activate(c, 'softmax', c.inputs[0], c.layer.name));
});
