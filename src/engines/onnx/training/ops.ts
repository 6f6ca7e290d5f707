// Small conveniences over OnnxGraphBuilder for the training graph: most backward formulas work on
// value names, and int64 shape/axes constants are shared across the whole graph.
import type { AttributeValue, OnnxGraphBuilder, OnnxValue } from '../graph_builder.js';

export class Ops {
  private readonly int64Cache = new Map<string, string>();

  constructor(readonly b: OnnxGraphBuilder) {}

  /** An int64 1-D constant, shared by every node that uses the same values. */
  int64(values: number[]): string {
    const key = values.join(',');
    let name = this.int64Cache.get(key);
    if (!name) {
      name = this.b.addInt64Initializer(`i64_${key.replace(/-/g, 'm').replace(/,/g, '_')}`, values);
      this.int64Cache.set(key, name);
    }
    return name;
  }

  scalar(value: number): string {
    return this.b.scalar(value);
  }

  op(opType: string, inputs: string[], hint: string, attributes: Record<string, AttributeValue> = {}): string {
    return this.b.node(opType, inputs, hint, attributes)[0];
  }

  /** A node of another operator domain (e.g. onnxruntime's 'com.microsoft.nchwc'). */
  domainOp(domain: string, opType: string, inputs: string[], hint: string, attributes: Record<string, AttributeValue> = {}): string {
    const output = this.op(opType, inputs, hint, attributes);
    this.b.nodes[this.b.nodes.length - 1].domain = domain;
    return output;
  }

  mul(a: string, c: string, hint: string): string {
    return this.op('Mul', [a, c], hint);
  }
  add(a: string, c: string, hint: string): string {
    return this.op('Add', [a, c], hint);
  }
  sub(a: string, c: string, hint: string): string {
    return this.op('Sub', [a, c], hint);
  }

  reduceSum(x: string, axes: number[], keepdims: boolean, hint: string): string {
    return this.op('ReduceSum', [x, this.int64(axes)], hint, { keepdims: keepdims ? 1 : 0 });
  }

  /** ReduceMean takes axes as an attribute up to opset 17 (the training graph's opset). */
  reduceMean(x: string, axes: number[], keepdims: boolean, hint: string): string {
    return this.op('ReduceMean', [x], hint, { axes, keepdims: keepdims ? 1 : 0 });
  }

  reshape(x: string, shape: number[], hint: string): string {
    return this.op('Reshape', [x, this.int64(shape)], hint);
  }

  transpose(x: string, perm: number[], hint: string): string {
    return this.op('Transpose', [x], hint, { perm });
  }

  slice(x: string, starts: number[], ends: number[], axes: number[], hint: string, steps?: number[]): string {
    const inputs = [x, this.int64(starts), this.int64(ends), this.int64(axes)];
    if (steps) inputs.push(this.int64(steps));
    return this.op('Slice', inputs, hint);
  }

  /** Constant-zero padding; `pads` in ONNX order (all begins, then all ends). */
  pad(x: string, pads: number[], hint: string): string {
    return this.op('Pad', [x, this.int64(pads)], hint, { mode: 'constant' });
  }
}

/** A value with the same shape and layout as `like`. */
export function like(like: OnnxValue, name: string): OnnxValue {
  return { name, shape: like.shape, layout: like.layout };
}
