// Reading and editing a decoded ONNX ModelProto: initializer values, attributes (protobufjs gives int64
// as Long objects), producer / consumer maps, and new initializers for the rewrites of quantize.ts.
import { onnx, type OnnxTypes } from './graph_builder.js';

type Int64 = number | { toNumber(): number };

export function toNumber(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

export function attribute(node: OnnxTypes.INodeProto, name: string): OnnxTypes.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function intAttribute(node: OnnxTypes.INodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a?.i === undefined || a.i === null ? fallback : toNumber(a.i as Int64);
}

export function intsAttribute(node: OnnxTypes.INodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a?.ints ? a.ints.map((v) => toNumber(v as Int64)) : undefined;
}

export function stringAttribute(node: OnnxTypes.INodeProto, name: string): string | undefined {
  const s = attribute(node, name)?.s;
  return s ? new TextDecoder().decode(s) : undefined;
}

export function setIntsAttribute(node: OnnxTypes.INodeProto, name: string, values: number[]): void {
  const rest = (node.attribute ?? []).filter((a) => a.name !== name);
  node.attribute = [...rest, { name, type: onnx.AttributeProto.AttributeType.INTS, ints: values }];
}

export function dimsOf(tensor: OnnxTypes.ITensorProto): number[] {
  return (tensor.dims ?? []).map((d) => toNumber(d as Int64));
}

/** A copy of a float32 initializer's values (raw_data or float_data). */
export function floatValues(tensor: OnnxTypes.ITensorProto): Float32Array {
  if (tensor.dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`internal: initializer ${tensor.name} is not float32 (data type ${tensor.dataType})`);
  if (tensor.rawData && tensor.rawData.length > 0) return new Float32Array(new Uint8Array(tensor.rawData).buffer);
  return Float32Array.from(tensor.floatData ?? []);
}

/** A copy of an int64 initializer's values, as numbers. */
export function int64Values(tensor: OnnxTypes.ITensorProto): number[] {
  if (tensor.rawData && tensor.rawData.length > 0) return Array.from(new BigInt64Array(new Uint8Array(tensor.rawData).buffer), Number);
  return (tensor.int64Data ?? []).map((v) => toNumber(v as Int64));
}

function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

export function floatTensor(name: string, data: Float32Array, dims: number[]): OnnxTypes.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytesOf(data) };
}

export function int8Tensor(name: string, data: Int8Array, dims: number[]): OnnxTypes.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.INT8, rawData: bytesOf(data) };
}

export function uint8Tensor(name: string, data: Uint8Array, dims: number[]): OnnxTypes.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.UINT8, rawData: bytesOf(data) };
}

export function int32Tensor(name: string, data: Int32Array, dims: number[]): OnnxTypes.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.INT32, rawData: bytesOf(data) };
}

/** The graph of a decoded model, with lookups rebuilt on demand after edits (`refresh`). */
export class EditableGraph {
  readonly graph: OnnxTypes.IGraphProto;
  readonly initializers = new Map<string, OnnxTypes.ITensorProto>();
  producers = new Map<string, OnnxTypes.INodeProto>();
  consumers = new Map<string, OnnxTypes.INodeProto[]>();
  /** Value names a node answered to before a rewrite merged others into it (a Conv and its folded BatchNorm). */
  readonly aliases = new Map<OnnxTypes.INodeProto, Set<string>>();
  private readonly names = new Set<string>();

  constructor(readonly model: OnnxTypes.IModelProto) {
    if (!model.graph) throw new Error('the ONNX model has no graph');
    this.graph = model.graph;
    this.graph.node ??= [];
    this.graph.initializer ??= [];
    for (const t of this.graph.initializer) this.initializers.set(t.name!, t);
    for (const n of this.graph.node) {
      if (n.name) this.names.add(n.name);
      for (const o of n.output ?? []) this.names.add(o);
    }
    for (const v of [...(this.graph.input ?? []), ...(this.graph.output ?? [])]) this.names.add(v.name!);
    for (const name of this.initializers.keys()) this.names.add(name);
    this.refresh();
  }

  get nodes(): OnnxTypes.INodeProto[] {
    return this.graph.node!;
  }

  set nodes(nodes: OnnxTypes.INodeProto[]) {
    this.graph.node = nodes;
  }

  refresh(): void {
    this.producers = new Map();
    this.consumers = new Map();
    for (const n of this.nodes) {
      for (const o of n.output ?? []) this.producers.set(o, n);
      for (const i of n.input ?? []) {
        if (!i) continue;
        const list = this.consumers.get(i) ?? [];
        list.push(n);
        this.consumers.set(i, list);
      }
    }
  }

  /** Records that `node` now also stands for the value `name` (gone from the graph). */
  addAlias(node: OnnxTypes.INodeProto, ...names: string[]): void {
    const set = this.aliases.get(node) ?? new Set<string>();
    for (const n of names) set.add(n);
    this.aliases.set(node, set);
  }

  /** The node's names: its own, its outputs' and the aliases of what was merged into it. */
  namesOf(node: OnnxTypes.INodeProto): string[] {
    return [node.name ?? '', ...(node.output ?? []), ...(this.aliases.get(node) ?? [])].filter(Boolean);
  }

  isGraphOutput(name: string): boolean {
    return (this.graph.output ?? []).some((o) => o.name === name);
  }

  isGraphInput(name: string): boolean {
    return (this.graph.input ?? []).some((o) => o.name === name);
  }

  /** A name not used in the graph yet, derived from `hint`. */
  uniqueName(hint: string): string {
    let name = hint;
    for (let i = 1; this.names.has(name); i++) name = `${hint}_${i}`;
    this.names.add(name);
    return name;
  }

  addInitializer(tensor: OnnxTypes.ITensorProto): string {
    const name = this.uniqueName(tensor.name!);
    const named = { ...tensor, name };
    this.graph.initializer!.push(named);
    this.initializers.set(name, named);
    return name;
  }

  /** Drops initializers no node reads any more (folded BatchNorm statistics, float weights replaced by int8). */
  pruneInitializers(): void {
    const used = new Set(this.nodes.flatMap((n) => n.input ?? []));
    this.graph.initializer = this.graph.initializer!.filter((t) => used.has(t.name!));
    for (const name of [...this.initializers.keys()]) if (!used.has(name)) this.initializers.delete(name);
  }

  encode(): Uint8Array {
    return onnx.ModelProto.encode(onnx.ModelProto.create(this.model)).finish();
  }
}

export function decodeModel(bytes: Uint8Array): OnnxTypes.IModelProto {
  return onnx.ModelProto.decode(bytes);
}
