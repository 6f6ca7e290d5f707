// Rebuilds a functional model layer by layer (Keras's clone_model with a clone_function): every layer is
// cloned from its config, applied to the rebuilt inputs and given the original weights, unless a hook
// returns something else for it. removeBatchNorm and foldBatchNorm are such hooks.
import { tfl } from '../engines/tfjs/tf.js';
import { UsageError } from '../core/errors.js';

type Layer = tfl.layers.Layer;
type SymbolicTensor = tfl.SymbolicTensor;

/** One application of a layer (a tfjs `Node`); only the fields the rewrite reads. */
interface GraphNode {
  outboundLayer: Layer;
  inputTensors: SymbolicTensor[];
  outputTensors: SymbolicTensor[];
  callArgs?: Record<string, unknown>;
}

interface TensorOrigin {
  sourceLayer: Layer;
  nodeIndex: number;
  tensorIndex: number;
}

function nodeOf(tensor: SymbolicTensor): GraphNode {
  const origin = tensor as unknown as TensorOrigin;
  return (origin.sourceLayer as unknown as { inboundNodes: GraphNode[] }).inboundNodes[origin.nodeIndex];
}

function isInputLayer(layer: Layer): boolean {
  return layer.getClassName() === 'InputLayer';
}

function isModel(layer: Layer): layer is tfl.LayersModel {
  return layer instanceof tfl.LayersModel;
}

/** The nodes that compute `model`'s outputs, inputs first (depth-first post-order). */
export function nodesInTopologicalOrder(model: tfl.LayersModel): GraphNode[] {
  const order: GraphNode[] = [];
  const state = new Map<GraphNode, 'visiting' | 'done'>();
  const visit = (node: GraphNode): void => {
    const s = state.get(node);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`graph cycle at layer '${node.outboundLayer.name}'`);
    state.set(node, 'visiting');
    if (!isInputLayer(node.outboundLayer)) for (const t of node.inputTensors) visit(nodeOf(t));
    state.set(node, 'done');
    order.push(node);
  };
  for (const output of model.outputs) visit(nodeOf(output));
  return order;
}

/** How many nodes of the model read each symbolic tensor (by id), plus one per model output. */
export function tensorConsumers(model: tfl.LayersModel): Map<number, GraphNode[]> {
  const consumers = new Map<number, GraphNode[]>();
  for (const node of nodesInTopologicalOrder(model)) {
    if (isInputLayer(node.outboundLayer)) continue;
    for (const t of node.inputTensors) {
      const list = consumers.get(t.id) ?? [];
      list.push(node);
      consumers.set(t.id, list);
    }
  }
  return consumers;
}

/** A fresh, unbuilt layer of the same class and config (same name). */
export function cloneLayer(layer: Layer, configOverrides: Record<string, unknown> = {}): Layer {
  const cls = layer.constructor as unknown as { fromConfig(cls: unknown, config: Record<string, unknown>): Layer };
  const config = { ...(layer.getConfig() as Record<string, unknown>), ...configOverrides };
  return cls.fromConfig(cls, config);
}

export interface LayerRewriteContext {
  /** The layer of the original model. */
  layer: Layer;
  /** Index of this application of the layer among the rewritten model's applications of it (0 unless shared). */
  callIndex: number;
  /** This node's inputs, already rebuilt. */
  inputs: SymbolicTensor[];
  /** The original node's inputs (to look at shapes or producers). */
  originalInputs: SymbolicTensor[];
  /** The default: a clone of the layer (same config, same weights), applied to `inputs`. */
  cloneAndApply(): SymbolicTensor[];
}

/**
 * Returns the tensors that replace the node's outputs (same count), or undefined for the default clone.
 * Returning `ctx.inputs` skips a one-in one-out layer.
 */
export type LayerRewrite = (ctx: LayerRewriteContext) => SymbolicTensor | SymbolicTensor[] | undefined;

export interface RewriteOptions {
  /** Name of the new model. Default: the original's. */
  name?: string;
}

function asList(x: SymbolicTensor | SymbolicTensor[]): SymbolicTensor[] {
  return Array.isArray(x) ? x : [x];
}

/**
 * Rebuilds `model` in topological order. Each layer is cloned once and applied once per node, so shared
 * layers stay shared. Weights are copied (the new model does not share variables with the old one), as
 * are `trainable` flags. A nested model is rewritten recursively with the same hook.
 */
export function rewriteModel(model: tfl.LayersModel, rewrite?: LayerRewrite, options: RewriteOptions = {}): tfl.LayersModel {
  const rebuilt = new Map<number, SymbolicTensor>();
  const clones = new Map<Layer, Layer>();
  const calls = new Map<Layer, number>();
  const newInputs: SymbolicTensor[] = [];

  for (const input of model.inputs) {
    const layer = (input as unknown as TensorOrigin).sourceLayer;
    const fresh = tfl.input({ batchShape: input.shape, dtype: input.dtype, name: layer.name });
    rebuilt.set(input.id, fresh);
    newInputs.push(fresh);
  }

  for (const node of nodesInTopologicalOrder(model)) {
    const layer = node.outboundLayer;
    if (isInputLayer(layer)) {
      if (!node.outputTensors.every((t) => rebuilt.has(t.id))) {
        throw new UsageError(`Cannot rewrite model '${model.name}': input layer '${layer.name}' is not one of its inputs.`, 'model');
      }
      continue;
    }
    const inputs = node.inputTensors.map((t) => rebuilt.get(t.id)!);
    const callIndex = calls.get(layer) ?? 0;
    calls.set(layer, callIndex + 1);
    const callArgs = node.callArgs ?? {};
    const cloneAndApply = (): SymbolicTensor[] => {
      let clone = clones.get(layer);
      const firstUse = clone === undefined;
      if (!clone) {
        clone = isModel(layer) ? rewriteModel(layer, rewrite) : cloneLayer(layer);
        clones.set(layer, clone);
      }
      const out = asList(clone.apply(inputs.length === 1 ? inputs[0] : inputs, callArgs) as SymbolicTensor | SymbolicTensor[]);
      if (firstUse && !isModel(layer)) {
        clone.setWeights(layer.getWeights());
        clone.trainable = layer.trainable;
      } else if (firstUse && !layer.trainable) {
        // A frozen nested model stays frozen (its rebuilt layers already carry their own flags).
        clone.trainable = false;
      }
      return out;
    };
    const replaced = rewrite?.({ layer, callIndex, inputs, originalInputs: node.inputTensors, cloneAndApply });
    const outputs = replaced === undefined ? cloneAndApply() : asList(replaced);
    if (outputs.length !== node.outputTensors.length) {
      throw new Error(`rewrite of layer '${layer.name}' returned ${outputs.length} tensors for ${node.outputTensors.length} outputs`);
    }
    node.outputTensors.forEach((t, i) => rebuilt.set(t.id, outputs[i]));
  }

  const outputs = model.outputs.map((t) => rebuilt.get(t.id)!);
  return tfl.model({ inputs: newInputs, outputs: outputs.length === 1 ? outputs[0] : outputs, name: options.name ?? model.name });
}
