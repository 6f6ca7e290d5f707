// Accumulates ONNX nodes and initializers for one graph, and tracks each value's memory layout.
//
// Keras models are channels-last (NHWC); ONNX convolutions and pools are channels-first (NCHW).
// Every value carries its Keras ("native") shape plus the layout it is stored in, and converters ask
// for the layout they need: `toLayout` inserts a Transpose once per value and layout and reuses it.
// So the input is transposed once, the convolutional trunk stays NCHW, and values go back to NHWC only
// where Keras semantics depend on the order (Flatten, Reshape, Dense on 4D, the outputs).
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

export const { onnx } = onnxProto;
export type { OnnxTypes };

/** 'native': stored in Keras's order. 'nchw': a rank-4 NHWC value stored as NCHW. */
export type Layout = 'native' | 'nchw';

export interface OnnxValue {
  name: string;
  /** Keras shape, batch first (null = unknown), in Keras's (channels-last) axis order. */
  shape: (number | null)[];
  layout: Layout;
}

export type AttributeValue = number | number[] | string | { float: number } | { floats: number[] };

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

export class OnnxGraphBuilder {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly usedNames = new Set<string>();
  private readonly transposed = new Map<string, OnnxValue>();
  private readonly scalarCache = new Map<string, string>();

  /** A graph-wide unique name derived from `hint` (Keras names are unique per model, not per graph). */
  uniqueName(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'v';
    let name = base;
    for (let i = 1; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  /** Reserves an exact name (graph inputs and outputs keep their Keras names). */
  reserve(name: string): string {
    return this.uniqueName(name);
  }

  addFloatInitializer(hint: string, data: Float32Array, dims: number[]): string {
    const name = this.uniqueName(hint);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      // ONNX raw_data is little-endian, as are the platforms onnxruntime-node ships for.
      rawData: bytes.slice(),
    });
    return name;
  }

  addInt64Initializer(hint: string, values: number[]): string {
    const name = this.uniqueName(hint);
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({
      name,
      dims: [values.length],
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: new Uint8Array(data.buffer).slice(),
    });
    return name;
  }

  /** A float32 scalar constant, shared by every node that uses the same value. */
  scalar(value: number): string {
    const key = String(value);
    let name = this.scalarCache.get(key);
    if (!name) {
      name = this.addFloatInitializer(`const_${key.replace(/[^0-9a-z]/gi, '_')}`, new Float32Array([value]), []);
      this.scalarCache.set(key, name);
    }
    return name;
  }

  /** Adds a node; returns its output names (fresh names derived from `hint` unless `outputs` given). */
  node(opType: string, inputs: string[], hint: string, attributes: Record<string, AttributeValue> = {}, outputs?: string[]): string[] {
    const outs = outputs ?? [this.uniqueName(hint)];
    this.nodes.push({
      opType,
      input: inputs,
      output: outs,
      name: this.uniqueName(`${hint}/${opType}`),
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return outs;
  }

  /** One-output node that keeps the value's Keras shape and layout (elementwise ops). */
  unary(opType: string, x: OnnxValue, hint: string, attributes: Record<string, AttributeValue> = {}): OnnxValue {
    const [name] = this.node(opType, [x.name], hint, attributes);
    return { name, shape: x.shape, layout: x.layout };
  }

  binary(opType: string, x: OnnxValue, other: string, hint: string): OnnxValue {
    const [name] = this.node(opType, [x.name, other], hint);
    return { name, shape: x.shape, layout: x.layout };
  }

  /** The same value stored in `layout`; a Transpose is added at most once per value and layout. */
  toLayout(value: OnnxValue, layout: Layout): OnnxValue {
    if (value.layout === layout) return value;
    if (value.shape.length !== 4) {
      if (layout === 'nchw') throw new Error(`internal: only rank-4 values can be NCHW, got rank ${value.shape.length}`);
      return { ...value, layout };
    }
    const key = `${value.name}->${layout}`;
    const cached = this.transposed.get(key);
    if (cached) return cached;
    const perm = layout === 'nchw' ? NHWC_TO_NCHW : NCHW_TO_NHWC;
    const [name] = this.node('Transpose', [value.name], `${value.name}_${layout}`, { perm });
    const result: OnnxValue = { name, shape: value.shape, layout };
    this.transposed.set(key, result);
    return result;
  }

  /** Rank-4 values go channels-first; others stay as they are. */
  preferNCHW(value: OnnxValue): OnnxValue {
    return value.shape.length === 4 ? this.toLayout(value, 'nchw') : this.toLayout(value, 'native');
  }
}

function attribute(name: string, value: AttributeValue): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`internal: attribute ${name}=${value} must be an integer; use {float}`);
    return { name, type: T.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.FLOATS, floats: value.floats };
}

/** Physical dims of a value as ONNX sees them (batch given as `batch`). */
export function physicalShape(value: OnnxValue): (number | null)[] {
  if (value.layout === 'nchw') return NHWC_TO_NCHW.map((axis) => value.shape[axis]);
  return value.shape;
}

/** The NCHW position of a Keras (NHWC) axis of a rank-4 value. */
export function nchwAxis(kerasAxis: number): number {
  return NHWC_TO_NCHW.indexOf(kerasAxis);
}
