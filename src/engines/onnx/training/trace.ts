// Flattens a tfjs-layers functional model into the list of layer calls a training step runs, in
// topological order, with nested models (a backbone used as one layer) inlined. Each symbolic tensor
// of each scope gets an integer key, so the same inner tensor reached through two calls of a nested
// model stays two values.
import { TlkitError } from '../../../core/errors.js';
import type { Layer, LayersModel } from '../model_graph.js';
import { resolveTensor, type GraphWalk, type TensorScope } from '../model_walk.js';

export interface LayerCall {
  layer: Layer;
  inputs: number[];
  outputs: number[];
  outputShapes: (number | null)[][];
  /** Call kwargs (e.g. `training` pinned at call time). */
  callArgs: Record<string, unknown>;
}

export interface TracedModel {
  /** Keys of the model inputs, in model.inputs order. */
  inputs: number[];
  /** Keys of the model outputs, in model.outputs order. */
  outputs: number[];
  calls: LayerCall[];
  shapes: Map<number, (number | null)[]>;
}

export function traceModel(model: LayersModel): TracedModel {
  let nextKey = 0;
  const calls: LayerCall[] = [];
  const shapes = new Map<number, (number | null)[]>();
  const fresh = (shape: (number | null)[]): number => {
    const key = nextKey++;
    shapes.set(key, shape);
    return key;
  };

  const walk: GraphWalk<number> = {
    inlineNestedModels: true,
    unboundInput: (layer) => new TlkitError(`internal: input '${layer.name}' reached but not bound`),
    callLayer: (layer, node, inputs) => {
      const outputs = node.outputTensors.map((t) => fresh(t.shape));
      calls.push({
        layer,
        inputs,
        outputs,
        outputShapes: node.outputTensors.map((t) => t.shape),
        callArgs: (node.callArgs ?? {}) as Record<string, unknown>,
      });
      return outputs;
    },
  };

  const top: TensorScope<number> = new Map();
  const inputs = model.inputs.map((t) => {
    const key = fresh(t.shape);
    top.set(t.id, key);
    return key;
  });
  const outputs = model.outputs.map((t) => resolveTensor(t, top, walk));
  return { inputs, outputs, calls, shapes };
}
