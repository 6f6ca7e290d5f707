// Reading a tfjs-layers functional graph: which call (node) of a layer belongs to a model, and
// which symbolic tensor a layer produced there. A layer shared between models (the backbone of a
// classifier, the tail re-applied by splitAtLayer) has one node per model that called it.
import { tfl, type SymbolicTensor } from '../tfjs/tf.js';
import { UsageError } from '../../core/errors.js';

export type Layer = tfl.layers.Layer;
export type { SymbolicTensor };
export type LayersModel = tfl.LayersModel;

/** One call of a layer (a tfjs `Node`): the tensors it took and the ones it produced. */
export interface GraphNode {
  inputTensors: SymbolicTensor[];
  outputTensors: SymbolicTensor[];
  callArgs?: Record<string, unknown>;
}

/** tfjs keeps these fields public in JS but not in its typings. */
interface LayerInternals {
  inboundNodes: GraphNode[];
}
interface ModelInternals {
  containerNodes: Set<string>;
}

export function inboundNodes(layer: Layer): GraphNode[] {
  return (layer as unknown as LayerInternals).inboundNodes;
}

/** The call of `layer` that is part of `model`'s graph. */
export function nodeInModel(model: LayersModel, layer: Layer): GraphNode {
  const nodes = inboundNodes(layer);
  const keys = (model as unknown as ModelInternals).containerNodes;
  for (let i = 0; i < nodes.length; i++) {
    if (keys?.has(`${layer.name}_ib-${i}`)) return nodes[i];
  }
  if (nodes.length === 1) return nodes[0];
  throw new Error(`internal: layer '${layer.name}' is not called in model '${model.name}'`);
}

/** The node that produced a symbolic tensor. */
export function producerNode(tensor: SymbolicTensor): GraphNode {
  return inboundNodes(tensor.sourceLayer)[tensor.nodeIndex];
}

export function isModel(layer: Layer): layer is LayersModel {
  return layer instanceof tfl.LayersModel;
}

export function isInputLayer(layer: Layer): boolean {
  return layer.getClassName() === 'InputLayer';
}

/**
 * Finds a layer by name in `model` or in a model nested in it (a backbone used as one layer).
 * Returns the path of nested models from `model` down to the layer's owner, and the layer.
 */
export function findLayerPath(model: LayersModel, name: string): { owners: LayersModel[]; layer: Layer } | undefined {
  for (const layer of model.layers) {
    if (layer.name === name) return { owners: [model], layer };
  }
  for (const layer of model.layers) {
    if (isModel(layer)) {
      const inner = findLayerPath(layer, name);
      if (inner) return { owners: [model, ...inner.owners], layer: inner.layer };
    }
  }
  return undefined;
}

export function allLayerNames(model: LayersModel): string[] {
  const names: string[] = [];
  for (const layer of model.layers) {
    names.push(layer.name);
    if (isModel(layer)) names.push(...allLayerNames(layer));
  }
  return names;
}

export function unknownLayer(argument: string, name: string, model: LayersModel): UsageError {
  const names = allLayerNames(model);
  const shown = names.length > 12 ? [...names.slice(0, 6), '...', ...names.slice(-6)] : names;
  return new UsageError(
    `Invalid value for \`${argument}\`: no layer named ${JSON.stringify(name)} in model '${model.name}' ` +
      `(${names.length} layers: ${shown.join(', ')}). Received: ${argument}=${JSON.stringify(name)}`,
    argument,
  );
}
