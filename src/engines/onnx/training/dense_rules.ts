// Training rules for the classifier-head layers: Dense, Flatten, Reshape, Dropout.
import { physicalShape, type OnnxValue } from '../graph_builder.js';
import { activate } from './activation_gradients.js';
import { like } from './ops.js';
import { registerGradientRule, UnsupportedLayer, type RuleContext, type RuleResult } from './rules.js';

registerGradientRule('Dense', (c) => {
  const o = c.ops;
  const name = c.layer.name;
  const x = o.b.toLayout(c.inputs[0], 'native');
  if (x.shape.length !== 2) throw new UnsupportedLayer(`Dense on a rank-${x.shape.length} input (only rank 2 is trainable; add Flatten or pooling first)`);
  const kernel = c.param('kernel')!;
  const bias = c.config.useBias ? c.param('bias') : undefined;
  const z = bias ? o.op('Gemm', [x.name, kernel.name, bias.name], `${name}_z`) : o.op('MatMul', [x.name, kernel.name], `${name}_z`);
  const act = activate(c, c.config.activation, { name: z, shape: c.outputShapes[0], layout: 'native' }, `${name}_act`);
  return {
    outputs: [act.y],
    backward: (dys, need) => {
      const dz = act.backward(dys[0]).name;
      if (bias?.trainable) c.paramGrad('bias', o.reduceSum(dz, [0], false, `${name}_db`));
      if (kernel.trainable) c.paramGrad('kernel', o.op('Gemm', [x.name, dz], `${name}_dw`, { transA: 1 }));
      return [need[0] ? like(x, o.op('Gemm', [dz, kernel.name], `${name}_dx`, { transB: 1 })) : undefined];
    },
  };
});

/** A layer that only reinterprets the Keras-ordered data: backward reshapes the gradient back. */
function reshapeRule(c: RuleContext): RuleResult {
  const o = c.ops;
  const x = o.b.toLayout(c.inputs[0], 'native');
  const outShape = c.outputShapes[0];
  const y = o.reshape(x.name, outShape, c.layer.name);
  return {
    outputs: [{ name: y, shape: outShape, layout: 'native' }],
    backward: (dys, need) => {
      if (!need[0] || !dys[0]) return [undefined];
      const dy = o.b.toLayout(dys[0], 'native');
      return [like(x, o.reshape(dy.name, x.shape as number[], `${c.layer.name}_dx`))];
    },
  };
}

registerGradientRule('Flatten', reshapeRule);
registerGradientRule('Reshape', reshapeRule);

// Dropout in training: y = x * mask, the mask (0 or 1/(1-rate)) drawn by tlkit from a seeded RNG and
// fed with each step. noiseShape (drop-connect) broadcasts the mask.
registerGradientRule('Dropout', (c) => {
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
});
