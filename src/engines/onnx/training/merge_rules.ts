// Training rules for merges (Add, Multiply with broadcasting, Concatenate) and ZeroPadding2D.
import { nchwAxis, physicalShape, type OnnxValue } from '../graph_builder.js';
import type { Ops } from './ops.js';
import { like } from './ops.js';
import { registerGradientRule, type RuleContext } from './rules.js';

/** Elementwise merges run channels-first when every input is rank 4, else in Keras layout. */
function mergeInputs(c: RuleContext): OnnxValue[] {
  const all4d = c.inputs.every((v) => v.shape.length === 4);
  return c.inputs.map((v) => c.ops.b.toLayout(v, all4d ? 'nchw' : 'native'));
}

/** Sums a gradient of the broadcast result shape back down to `input`'s shape. */
function unbroadcast(o: Ops, grad: string, input: OnnxValue, outPhysical: number[], hint: string): OnnxValue {
  const inPhysical = physicalShape(input) as number[];
  const axes = outPhysical.map((d, i) => (inPhysical[i] === 1 && d !== 1 ? i : -1)).filter((i) => i >= 0);
  return like(input, axes.length ? o.reduceSum(grad, axes, true, hint) : grad);
}

function outPhysical(c: RuleContext, layout: OnnxValue['layout']): number[] {
  return physicalShape({ name: '', shape: c.outputShapes[0], layout }) as number[];
}

registerGradientRule('Add', (c) => {
  const o = c.ops;
  const xs = mergeInputs(c);
  const y = o.op('Sum', xs.map((v) => v.name), c.layer.name);
  const shape = outPhysical(c, xs[0].layout);
  return {
    outputs: [{ name: y, shape: c.outputShapes[0], layout: xs[0].layout }],
    backward: (dys, need) => {
      const dy = dys[0];
      if (!dy) return xs.map(() => undefined);
      const g = o.b.toLayout(dy, xs[0].layout).name;
      return xs.map((x, i) => (need[i] ? unbroadcast(o, g, x, shape, `${c.layer.name}_dx${i}`) : undefined));
    },
  };
});

registerGradientRule('Multiply', (c) => {
  const o = c.ops;
  const xs = mergeInputs(c);
  let acc = xs[0].name;
  for (let i = 1; i < xs.length; i++) acc = o.mul(acc, xs[i].name, i === xs.length - 1 ? c.layer.name : `${c.layer.name}_${i}`);
  const shape = outPhysical(c, xs[0].layout);
  return {
    outputs: [{ name: acc, shape: c.outputShapes[0], layout: xs[0].layout }],
    backward: (dys, need) => {
      const dy = dys[0];
      if (!dy) return xs.map(() => undefined);
      const g = o.b.toLayout(dy, xs[0].layout).name;
      return xs.map((x, i) => {
        if (!need[i]) return undefined;
        let grad = g;
        xs.forEach((other, j) => {
          if (j !== i) grad = o.mul(grad, other.name, `${c.layer.name}_dx${i}_${j}`);
        });
        return unbroadcast(o, grad, x, shape, `${c.layer.name}_dx${i}`);
      });
    },
  };
});

registerGradientRule('Concatenate', (c) => {
  const o = c.ops;
  const xs = mergeInputs(c);
  const rank = xs[0].shape.length;
  const kerasAxis = c.config.axis < 0 ? rank + c.config.axis : c.config.axis;
  const axis = xs[0].layout === 'nchw' ? nchwAxis(kerasAxis) : kerasAxis;
  const y = o.op('Concat', xs.map((v) => v.name), c.layer.name, { axis });
  return {
    outputs: [{ name: y, shape: c.outputShapes[0], layout: xs[0].layout }],
    backward: (dys) => {
      const dy = dys[0];
      if (!dy) return xs.map(() => undefined);
      const sizes = xs.map((x) => x.shape[kerasAxis] as number);
      const parts = o.b.node('Split', [o.b.toLayout(dy, xs[0].layout).name, o.int64(sizes)], `${c.layer.name}_dx`, { axis },
        xs.map((_, i) => o.b.uniqueName(`${c.layer.name}_dx${i}`)));
      return xs.map((x, i) => like(x, parts[i]));
    },
  };
});

registerGradientRule('ZeroPadding2D', (c) => {
  const o = c.ops;
  const x = o.b.toLayout(c.inputs[0], 'nchw');
  const [[top, bottom], [left, right]] = c.config.padding as [[number, number], [number, number]];
  const [, h, w] = x.shape as number[];
  const y = o.pad(x.name, [0, 0, top, left, 0, 0, bottom, right], c.layer.name);
  return {
    outputs: [{ name: y, shape: c.outputShapes[0], layout: 'nchw' }],
    backward: (dys, need) =>
      [need[0] && dys[0] ? like(x, o.slice(o.b.toLayout(dys[0], 'nchw').name, [top, left], [top + h, left + w], [2, 3], `${c.layer.name}_dx`)) : undefined],
  };
});
