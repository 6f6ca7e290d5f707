// The classifier-head layers: Dense, Flatten, Reshape, Permute, Dropout and the other layers that do
// nothing at inference time.
import { physicalShape, type OnnxValue } from '../graph_builder.js';
import { like } from '../training/ops.js';
import { activate, emitActivation } from './activation.js';
import { requireValue, UnsupportedLayer, type ForwardContext, type LayerTable, type RuleContext, type RuleResult } from './table.js';

/** Dense without its activation: x @ kernel + bias on the last Keras axis (Gemm for rank 2 with a bias). */
function denseLinear(c: ForwardContext, x: OnnxValue, kernel: string, bias: string | undefined): OnnxValue {
  const b = c.builder;
  const name = c.layer.name;
  let y: string;
  if (x.shape.length === 2 && bias) {
    [y] = b.node('Gemm', [x.name, kernel, bias], name);
  } else {
    [y] = b.node('MatMul', [x.name, kernel], bias ? `${name}_matmul` : name);
    if (bias) [y] = b.node('Add', [y, bias], name);
  }
  return { name: y, shape: c.outputShapes[0], layout: 'native' };
}

/** The same data in a new Keras shape: backward reshapes the gradient back (Flatten, Reshape). */
function reshapeGradient(forward: (c: ForwardContext) => OnnxValue[]) {
  return (c: RuleContext): RuleResult => {
    const o = c.ops;
    const x = o.b.toLayout(c.inputs[0], 'native');
    return {
      outputs: forward(c),
      backward: (dys, need) => {
        if (!need[0] || !dys[0]) return [undefined];
        const dy = o.b.toLayout(dys[0], 'native');
        return [like(x, o.reshape(dy.name, x.shape as number[], `${c.layer.name}_dx`))];
      },
    };
  };
}

function flatten(c: ForwardContext): OnnxValue[] {
  // Keras flattens in channels-last order, so a channels-first value goes back to NHWC first.
  const x = c.builder.toLayout(c.inputs[0], 'native');
  if (x.shape.length === 2) return [x];
  const [name] = c.builder.node('Flatten', [x.name], c.layer.name, { axis: 1 });
  return [{ name, shape: c.outputShapes[0], layout: 'native' }];
}

function reshape(c: ForwardContext): OnnxValue[] {
  const x = c.builder.toLayout(c.inputs[0], 'native');
  // 0 copies the batch size from the input (ONNX Reshape with allowzero = 0).
  const shape = c.builder.addInt64Initializer(`${c.layer.name}/shape`, [0, ...(c.config.targetShape as number[])]);
  const [name] = c.builder.node('Reshape', [x.name, shape], c.layer.name);
  return [{ name, shape: c.outputShapes[0], layout: 'native' }];
}

const identity = (className: string): LayerTable => ({ className, forward: (c) => [c.inputs[0]] });

export const DENSE_LAYERS: LayerTable[] = [
  {
    className: 'Dense',
    forward: (c) => {
      // Dense acts on the last Keras axis, so the input must be in Keras order.
      const x = c.builder.toLayout(c.inputs[0], 'native');
      const name = c.layer.name;
      const kernel = requireValue(c.weight('kernel', 'plain', `${name}/kernel`), 'kernel');
      const bias = c.config.useBias ? requireValue(c.weight('bias', 'plain', `${name}/bias`), 'bias') : undefined;
      return [emitActivation(c.builder, c.config.activation, denseLinear(c, x, kernel, bias), `${name}_act`)];
    },
    gradient: (c) => {
      const o = c.ops;
      const name = c.layer.name;
      const x = o.b.toLayout(c.inputs[0], 'native');
      if (x.shape.length !== 2) throw new UnsupportedLayer(`Dense on a rank-${x.shape.length} input (only rank 2 is trainable; add Flatten or pooling first)`);
      const kernel = c.param('kernel')!;
      const bias = c.config.useBias ? c.param('bias') : undefined;
      const act = activate(c, c.config.activation, denseLinear(c, x, kernel.name, bias?.name), `${name}_act`);
      return {
        outputs: [act.y],
        backward: (dys, need) => {
          const dz = act.backward(dys[0]).name;
          if (bias?.trainable) c.paramGrad('bias', o.reduceSum(dz, [0], false, `${name}_db`));
          if (kernel.trainable) c.paramGrad('kernel', o.op('Gemm', [x.name, dz], `${name}_dw`, { transA: 1 }));
          return [need[0] ? like(x, o.op('Gemm', [dz, kernel.name], `${name}_dx`, { transB: 1 })) : undefined];
        },
      };
    },
  },
  { className: 'Flatten', forward: flatten, gradient: reshapeGradient(flatten) },
  { className: 'Reshape', forward: reshape, gradient: reshapeGradient(reshape) },
  {
    className: 'Permute',
    forward: (c) => {
      const x = c.builder.toLayout(c.inputs[0], 'native');
      const [name] = c.builder.node('Transpose', [x.name], c.layer.name, { perm: [0, ...(c.config.dims as number[])] });
      return [{ name, shape: c.outputShapes[0], layout: 'native' }];
    },
  },
  {
    className: 'Dropout',
    // Inference: the identity.
    forward: (c) => [c.inputs[0]],
    // Training mode has its own forward: y = x * mask, the mask (0 or 1/(1-rate)) drawn by tlkit from a
    // seeded RNG and fed with each step. noiseShape (drop-connect) broadcasts the mask.
    gradient: (c) => {
      const o = c.ops;
      const rate = c.config.rate ?? 0;
      const x = c.inputs[0];
      if (!(rate > 0)) return { outputs: [x], backward: (dys, need) => [need[0] ? dys[0] : undefined] };
      const physical = physicalShape(x) as number[];
      let maskShape = physical;
      const noiseShape = c.config.noiseShape as (number | null)[] | null | undefined;
      if (noiseShape) {
        if (noiseShape.length !== x.shape.length) throw new UnsupportedLayer(`Dropout noiseShape=${JSON.stringify(noiseShape)} of another rank than the input`);
        const keras = noiseShape.map((d, i) => (d === null ? (x.shape[i] as number) : d));
        maskShape = x.layout === 'nchw' ? [keras[0], keras[3], keras[1], keras[2]] : keras;
      }
      const mask = c.dropoutMask(maskShape, rate);
      const y = o.mul(x.name, mask, c.layer.name);
      return {
        outputs: [like(x, y)],
        backward: (dys, need) => [need[0] && dys[0] ? like(x, o.mul(o.b.toLayout(dys[0], x.layout).name, mask, `${c.layer.name}_dx`)) : undefined],
      };
    },
  },
  // Regularisers and noise layers do nothing at predict time.
  ...['SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Masking'].map(identity),
];
