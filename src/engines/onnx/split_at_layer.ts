// Cutting a functional model in two at a layer: the prefix (inputs -> that layer's output) and the
// rest (that output -> the model's outputs). The rest is a new tfjs-layers model that re-applies the
// original layer objects to a fresh input, so it shares their weights: training the rest trains the
// model. Only cuts through a single tensor are accepted; a cut through the middle of a residual block
// (where a skip connection bypasses the layer) is rejected.
import { TlkitError } from '../../core/errors.js';
import { tfl } from '../tfjs/tf.js';
import { findLayerPath, nodeInModel, unknownLayer, type Layer, type LayersModel, type SymbolicTensor } from './model_graph.js';
import { resolveTensor, type TensorScope } from './model_walk.js';

export interface SplitModel {
  /** inputs -> boundary tensor: the part that runs frozen (on onnxruntime). */
  prefix: LayersModel;
  /** boundary tensor -> outputs, sharing layer objects (and so weights) with the original model. */
  rest: LayersModel;
  /** The layer whose output is the boundary (the nested model itself when the cut is a backbone's output). */
  boundaryLayer: Layer;
  /** Keras shape of the boundary tensor, batch first. */
  boundaryShape: (number | null)[];
}

/** Splits `model` after `layerName`. See the file comment for what is accepted. */
export function splitAtLayer(model: LayersModel, layerName: string): SplitModel {
  const boundary = boundaryTensor(model, layerName);
  const boundaryLayer = boundary.sourceLayer;
  const prefix = tfl.model({ inputs: model.inputs, outputs: boundary, name: `${model.name}_to_${boundaryLayer.name}` });

  const restInput = tfl.input({ batchShape: boundary.shape, name: `${boundaryLayer.name}_features` });
  const mapped: TensorScope<SymbolicTensor> = new Map([[boundary.id, restInput]]);
  const outputs = model.outputs.map((t) => replay(t, mapped, boundaryLayer.name));
  const rest = tfl.model({ inputs: restInput, outputs, name: `${model.name}_after_${boundaryLayer.name}` });
  return { prefix, rest, boundaryLayer, boundaryShape: boundary.shape.slice() };
}

function boundaryTensor(model: LayersModel, layerName: string): SymbolicTensor {
  const found = findLayerPath(model, layerName);
  if (!found) throw unknownLayer('frozenUpTo', layerName, model);
  let layer = found.layer;
  let owner = found.owners[found.owners.length - 1];
  if (found.owners.length > 1) {
    // A layer inside a nested backbone: accepted when it is that backbone's only output, i.e. the cut
    // is the nested model as a whole.
    const nested = found.owners[1];
    const inner = nodeInModel(owner, layer).outputTensors;
    const isWholeNested = found.owners.length === 2 && nested.outputs.length === 1 && inner.length === 1 && nested.outputs[0].id === inner[0].id;
    if (!isWholeNested) {
      throw new TlkitError(
        `Cannot split model '${model.name}' at layer '${layerName}': it is inside the nested model '${nested.name}' ` +
          `and is not its output. Split at '${nested.name}' instead, or build the model flat.`,
      );
    }
    layer = nested;
    owner = model;
  }
  const outputs = nodeInModel(owner, layer).outputTensors;
  if (outputs.length !== 1) {
    throw new TlkitError(`Cannot split model '${model.name}' at layer '${layerName}': it has ${outputs.length} outputs; a split needs exactly one`);
  }
  if (model.outputs.some((t) => t.id === outputs[0].id)) {
    throw new TlkitError(`Cannot split model '${model.name}' at layer '${layerName}': it is the model's output, so nothing would be left to train`);
  }
  return outputs[0];
}

/** The rest-model tensor standing for `target`, re-applying each layer call after the boundary once. */
function replay(target: SymbolicTensor, mapped: TensorScope<SymbolicTensor>, boundaryName: string): SymbolicTensor {
  // A nested model is re-applied whole (not inlined), so the rest keeps it as one layer.
  return resolveTensor(target, mapped, {
    unboundInput: (layer) =>
      new TlkitError(
        `Cannot split at layer '${boundaryName}': the model's output also depends on input '${layer.name}' through a path ` +
          `that bypasses '${boundaryName}' (e.g. a skip connection). Pick a layer that every path goes through, ` +
          `such as the output of a block.`,
      ),
    callLayer: (layer, node, inputs) => {
      const result = layer.apply(inputs.length === 1 ? inputs[0] : inputs, node.callArgs ?? {});
      return (Array.isArray(result) ? result : [result]) as SymbolicTensor[];
    },
  });
}
