// Keras (tfjs-layers) model -> ONNX ModelProto bytes, written with the onnx-proto protobuf messages.
// Walks the functional graph from the requested outputs back to the inputs (nested models such as a
// backbone used as one layer are inlined), converting each layer call with its layer table's forward (layers/), the
// weights becoming initializers.
import { TlkitError, invalidArgument } from '../../core/errors.js';
import type { tf, tfl } from '../tfjs/tf.js';
import { onnx, OnnxGraphBuilder, type OnnxTypes, type OnnxValue } from './graph_builder.js';
import { getLayerTable, supportedLayerClasses, UnsupportedLayer, type ForwardContext } from './layers/index.js';
import { Ops } from './training/ops.js';
import { kerasToOnnx, onnxShape } from './training/params.js';
import { findLayerPath, nodeInModel, unknownLayer, type Layer, type SymbolicTensor } from './model_graph.js';
import { resolveTensor, type TensorScope } from './model_walk.js';

export interface ExportOnnxOptions {
  /** Batch dimension of the graph: a fixed size, or 'dynamic' (a symbolic 'batch' dim). Default 'dynamic'. */
  batchSize?: number | 'dynamic';
  /**
   * Export only the sub-graph from the inputs up to this layer's output (the frozen prefix of a
   * model). The layer may sit inside a nested model (a backbone used as one layer).
   */
  upToLayer?: string;
  /** ONNX opset, 13 or later. Default 13. */
  opset?: number;
}

export const DEFAULT_OPSET = 13;
const IR_VERSION = 7;

type Scope = TensorScope<OnnxValue>;

/** Converts `model` (or its prefix up to `options.upToLayer`) to ONNX ModelProto bytes. */
export async function exportOnnx(model: tfl.LayersModel, options: ExportOnnxOptions = {}): Promise<Uint8Array> {
  return exportOnnxSync(model, options);
}

export function exportOnnxSync(model: tfl.LayersModel, options: ExportOnnxOptions = {}): Uint8Array {
  const batchSize = options.batchSize ?? 'dynamic';
  if (batchSize !== 'dynamic' && !(Number.isInteger(batchSize) && batchSize > 0)) {
    throw invalidArgument('batchSize', batchSize, "a positive integer or 'dynamic'");
  }
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < 13) throw invalidArgument('opset', opset, 'an integer >= 13');

  const builder = new OnnxGraphBuilder();
  const topScope: Scope = new Map();
  const graphInputs: OnnxTypes.IValueInfoProto[] = [];
  const batchDim: number | null = batchSize === 'dynamic' ? null : batchSize;

  for (const input of model.inputs) {
    const name = builder.reserve(input.sourceLayer.name);
    const shape = [batchDim, ...input.shape.slice(1)];
    topScope.set(input.id, { name, shape, layout: 'native' });
    graphInputs.push(valueInfo(name, shape));
  }

  // The tensors to export, and the scope (nested model) they live in.
  let targets: SymbolicTensor[];
  let targetScope = topScope;
  if (options.upToLayer === undefined) {
    targets = model.outputs;
  } else {
    const found = findLayerPath(model, options.upToLayer);
    if (!found) throw unknownLayer('upToLayer', options.upToLayer, model);
    for (let k = 1; k < found.owners.length; k++) {
      const nested = found.owners[k];
      const call = nodeInModel(found.owners[k - 1], nested);
      const inputs = call.inputTensors.map((t) => emit(builder, t, targetScope));
      targetScope = new Map(nested.inputs.map((t, i) => [t.id, inputs[i]]));
    }
    targets = nodeInModel(found.owners[found.owners.length - 1], found.layer).outputTensors;
  }

  const outputNames = targets.map((t) => builder.reserve(t.sourceLayer.name));
  const graphOutputs: OnnxTypes.IValueInfoProto[] = [];
  targets.forEach((t, i) => {
    const value = builder.toLayout(emit(builder, t, targetScope), 'native');
    builder.node('Identity', [value.name], outputNames[i], {}, [outputNames[i]]);
    graphOutputs.push(valueInfo(outputNames[i], [batchDim, ...value.shape.slice(1)]));
  });

  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'tlkit',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: options.upToLayer ? `${model.name}_to_${options.upToLayer}` : model.name,
      node: builder.nodes,
      initializer: builder.initializers,
      input: graphInputs,
      output: graphOutputs,
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

/** The ONNX value of a symbolic tensor, converting every layer call it depends on first. */
function emit(builder: OnnxGraphBuilder, target: SymbolicTensor, scope: Scope): OnnxValue {
  const ops = opsOf(builder);
  return resolveTensor(target, scope, {
    inlineNestedModels: true,
    unboundInput: (layer) =>
      new TlkitError(`Cannot export to ONNX: input '${layer.name}' is needed but is not an input of the exported graph`),
    callLayer: (layer, node, inputs) => convertLayer(ops, layer, inputs, node.outputTensors.map((t) => t.shape)),
    // OnnxValue.shape is the Keras shape: take it from the tensor itself, not from what a converter or a nested model reported.
    bindOutput: (value, tensor) => ({ ...value, shape: tensor.shape }),
  });
}

const opsByBuilder = new WeakMap<OnnxGraphBuilder, Ops>();

/** One Ops per graph, so its shared constants are shared across the whole export. */
function opsOf(builder: OnnxGraphBuilder): Ops {
  let ops = opsByBuilder.get(builder);
  if (!ops) opsByBuilder.set(builder, (ops = new Ops(builder)));
  return ops;
}

/** A weight variable's values and Keras shape, by its tfjs field name ('kernel', 'gamma', ...). */
function readWeight(layer: Layer, field: string): { data: Float32Array; shape: number[] } | undefined {
  const variable = (layer as unknown as Record<string, { read(): tf.Tensor } | null | undefined>)[field];
  if (!variable) return undefined;
  const tensor = variable.read();
  return { data: Float32Array.from(tensor.dataSync() as Float32Array), shape: tensor.shape.slice() };
}

function convertLayer(ops: Ops, layer: Layer, inputs: OnnxValue[], outputShapes: (number | null)[][]): OnnxValue[] {
  const builder = ops.b;
  const className = layer.getClassName();
  const table = getLayerTable(className);
  if (!table) {
    throw new TlkitError(
      `Cannot export layer '${layer.name}' (${className}) to ONNX: no converter for class ${className}. ` +
        `Supported classes: ${['InputLayer', ...supportedLayerClasses()].join(', ')}`,
    );
  }
  // Weights are constants of the exported graph, in the layout ONNX's ops take.
  const context: ForwardContext = {
    builder,
    ops,
    layer,
    config: layer.getConfig(),
    inputs,
    outputShapes,
    weight(field, layout, name) {
      const weight = readWeight(layer, field);
      return weight && builder.addFloatInitializer(name, kerasToOnnx(weight.data, weight.shape, layout), onnxShape(weight.shape, layout));
    },
    constant: (field) => readWeight(layer, field)?.data,
  };
  try {
    return table.forward(context);
  } catch (error) {
    const reason = error instanceof UnsupportedLayer ? error.message : String((error as Error).message ?? error);
    throw new TlkitError(`Cannot export layer '${layer.name}' (${className}) to ONNX: ${reason}`, { cause: error });
  }
}

function valueInfo(name: string, shape: (number | null)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d, i) => (d === null ? { dimParam: i === 0 ? 'batch' : `d${i}` } : { dimValue: d })) },
      },
    },
  };
}
