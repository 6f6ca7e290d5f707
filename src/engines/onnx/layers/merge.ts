// Merges (Add, Multiply with broadcasting, Concatenate, ...) and the 2-D padding/cropping layers.
import { nchwAxis, physicalShape, type OnnxValue } from '../graph_builder.js';
import { like, type Ops } from '../training/ops.js';
import { requireChannelsLast } from './geometry.js';
import { UnsupportedLayer, type ForwardContext, type LayerTable, type RuleContext, type RuleResult } from './table.js';

/** Elementwise merges run channels-first when every input is rank 4, else in Keras layout. */
function mergeInputs(c: ForwardContext): OnnxValue[] {
  const all4d = c.inputs.every((v) => v.shape.length === 4);
  return c.inputs.map((v) => c.builder.toLayout(v, all4d ? 'nchw' : 'native'));
}

function output(c: ForwardContext, name: string, layout: OnnxValue['layout']): OnnxValue {
  return { name, shape: c.outputShapes[0], layout };
}

/** One node over every input (Sum, Max, Min, Mean). */
function variadic(opType: string) {
  return (c: ForwardContext): OnnxValue[] => {
    const xs = mergeInputs(c);
    const [name] = c.builder.node(opType, xs.map((v) => v.name), c.layer.name);
    return [output(c, name, xs[0].layout)];
  };
}

function multiply(c: ForwardContext): OnnxValue[] {
  const xs = mergeInputs(c);
  let acc = xs[0].name;
  for (let i = 1; i < xs.length; i++) [acc] = c.builder.node('Mul', [acc, xs[i].name], i === xs.length - 1 ? c.layer.name : `${c.layer.name}_${i}`);
  return [output(c, acc, xs[0].layout)];
}

function concatenate(c: ForwardContext): OnnxValue[] {
  const xs = mergeInputs(c);
  const [name] = c.builder.node('Concat', xs.map((v) => v.name), c.layer.name, { axis: concatAxis(c, xs[0]).onnx });
  return [output(c, name, xs[0].layout)];
}

function concatAxis(c: ForwardContext, x: OnnxValue): { keras: number; onnx: number } {
  const rank = x.shape.length;
  const keras = c.config.axis < 0 ? rank + c.config.axis : c.config.axis;
  return { keras, onnx: x.layout === 'nchw' ? nchwAxis(keras) : keras };
}

function twoSides(value: [[number, number], [number, number]]): { top: number; bottom: number; left: number; right: number } {
  const [[top, bottom], [left, right]] = value;
  return { top, bottom, left, right };
}

function zeroPadding(c: ForwardContext): OnnxValue[] {
  requireChannelsLast(c.config);
  const b = c.builder;
  const x = b.toLayout(c.inputs[0], 'nchw');
  const { top, bottom, left, right } = twoSides(c.config.padding);
  const pads = b.addInt64Initializer(`${c.layer.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
  const [name] = b.node('Pad', [x.name, pads], c.layer.name, { mode: 'constant' });
  return [output(c, name, 'nchw')];
}

/** Sums a gradient of the broadcast result shape back down to `input`'s shape. */
function unbroadcast(o: Ops, grad: string, input: OnnxValue, outPhysical: number[], hint: string): OnnxValue {
  const inPhysical = physicalShape(input) as number[];
  const axes = outPhysical.map((d, i) => (inPhysical[i] === 1 && d !== 1 ? i : -1)).filter((i) => i >= 0);
  return like(input, axes.length ? o.reduceSum(grad, axes, true, hint) : grad);
}

/** A merge's training rule: the same forward, and per input the gradient `inputGrad` gives, unbroadcast. */
function mergeGradient(forward: (c: ForwardContext) => OnnxValue[], inputGrad: (c: RuleContext, dy: string, xs: OnnxValue[], i: number) => string) {
  return (c: RuleContext): RuleResult => {
    const o = c.ops;
    const xs = mergeInputs(c);
    const [y] = forward(c);
    const shape = physicalShape(y) as number[];
    return {
      outputs: [y],
      backward: (dys, need) => {
        const dy = dys[0];
        if (!dy) return xs.map(() => undefined);
        const g = o.b.toLayout(dy, xs[0].layout).name;
        return xs.map((x, i) => (need[i] ? unbroadcast(o, inputGrad(c, g, xs, i), x, shape, `${c.layer.name}_dx${i}`) : undefined));
      },
    };
  };
}

export const MERGE_LAYERS: LayerTable[] = [
  { className: 'Add', forward: variadic('Sum'), gradient: mergeGradient(variadic('Sum'), (_c, dy) => dy) },
  { className: 'Maximum', forward: variadic('Max') },
  { className: 'Minimum', forward: variadic('Min') },
  { className: 'Average', forward: variadic('Mean') },
  {
    className: 'Multiply',
    forward: multiply,
    // d(x0 x1 ...)/dxi = the product of the others.
    gradient: mergeGradient(multiply, (c, dy, xs, i) => {
      let grad = dy;
      xs.forEach((other, j) => {
        if (j !== i) grad = c.ops.mul(grad, other.name, `${c.layer.name}_dx${i}_${j}`);
      });
      return grad;
    }),
  },
  {
    className: 'Subtract',
    forward: (c) => {
      const xs = mergeInputs(c);
      const [name] = c.builder.node('Sub', [xs[0].name, xs[1].name], c.layer.name);
      return [output(c, name, xs[0].layout)];
    },
  },
  {
    className: 'Concatenate',
    forward: concatenate,
    gradient: (c) => {
      const o = c.ops;
      const xs = mergeInputs(c);
      const [y] = concatenate(c);
      const axis = concatAxis(c, xs[0]);
      return {
        outputs: [y],
        backward: (dys) => {
          const dy = dys[0];
          if (!dy) return xs.map(() => undefined);
          const sizes = xs.map((x) => x.shape[axis.keras] as number);
          const parts = o.b.node('Split', [o.b.toLayout(dy, xs[0].layout).name, o.int64(sizes)], `${c.layer.name}_dx`, { axis: axis.onnx },
            xs.map((_, i) => o.b.uniqueName(`${c.layer.name}_dx${i}`)));
          return xs.map((x, i) => like(x, parts[i]));
        },
      };
    },
  },
  {
    className: 'ZeroPadding2D',
    forward: zeroPadding,
    gradient: (c) => {
      const o = c.ops;
      const [y] = zeroPadding(c);
      const x = o.b.toLayout(c.inputs[0], 'nchw');
      const { top, left } = twoSides(c.config.padding);
      const [, h, w] = x.shape as number[];
      return {
        outputs: [y],
        backward: (dys, need) =>
          [need[0] && dys[0] ? like(x, o.slice(o.b.toLayout(dys[0], 'nchw').name, [top, left], [top + h, left + w], [2, 3], `${c.layer.name}_dx`)) : undefined],
      };
    },
  },
  {
    className: 'Cropping2D',
    forward: (c) => {
      requireChannelsLast(c.config);
      const b = c.builder;
      const x = b.toLayout(c.inputs[0], 'nchw');
      const { top, bottom, left, right } = twoSides(c.config.cropping);
      const [, h, w] = x.shape;
      if (h === null || w === null) throw new UnsupportedLayer('Cropping2D needs a known input height and width');
      const starts = b.addInt64Initializer(`${c.layer.name}/starts`, [top, left]);
      const ends = b.addInt64Initializer(`${c.layer.name}/ends`, [h - bottom, w - right]);
      const axes = b.addInt64Initializer(`${c.layer.name}/axes`, [2, 3]);
      const [name] = b.node('Slice', [x.name, starts, ends, axes], c.layer.name);
      return [output(c, name, 'nchw')];
    },
  },
];
