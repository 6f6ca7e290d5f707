// Flattens a tfjs-layers functional model into the list of layer calls a training step runs, in
// topological order, with nested models (a backbone used as one layer) inlined. Each symbolic tensor
// of each scope gets an integer key, so the same inner tensor reached through two calls of a nested
// model stays two values.
import { TlkitError } from '../../../errors.js';
import { isInputLayer, isModel, producerNode, type Layer, type LayersModel, type SymbolicTensor } from '../model_graph.js';

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

type Scope = Map<number, number>;

export function traceModel(model: LayersModel): TracedModel {
  let nextKey = 0;
  const calls: LayerCall[] = [];
  const shapes = new Map<number, (number | null)[]>();
  const fresh = (shape: (number | null)[]): number => {
    const key = nextKey++;
    shapes.set(key, shape);
    return key;
  };

  const walk = (target: SymbolicTensor, scope: Scope): number => {
    // Explicit stack: deep backbones exceed comfortable recursion depths.
    const stack: SymbolicTensor[] = [target];
    while (stack.length > 0) {
      const tensor = stack[stack.length - 1];
      if (scope.has(tensor.id)) {
        stack.pop();
        continue;
      }
      const layer = tensor.sourceLayer;
      if (isInputLayer(layer)) throw new TlkitError(`internal: input '${layer.name}' reached but not bound`);
      const node = producerNode(tensor);
      const missing = node.inputTensors.filter((t) => !scope.has(t.id));
      if (missing.length > 0) {
        stack.push(...missing);
        continue;
      }
      const inputs = node.inputTensors.map((t) => scope.get(t.id)!);
      if (isModel(layer)) {
        const inner: Scope = new Map(layer.inputs.map((t, i) => [t.id, inputs[i]]));
        const outs = layer.outputs.map((t) => walk(t, inner));
        node.outputTensors.forEach((t, i) => scope.set(t.id, outs[i]));
      } else {
        const outputs = node.outputTensors.map((t) => fresh(t.shape));
        calls.push({
          layer,
          inputs,
          outputs,
          outputShapes: node.outputTensors.map((t) => t.shape),
          callArgs: (node.callArgs ?? {}) as Record<string, unknown>,
        });
        node.outputTensors.forEach((t, i) => scope.set(t.id, outputs[i]));
      }
      stack.pop();
    }
    return scope.get(target.id)!;
  };

  const top: Scope = new Map();
  const inputs = model.inputs.map((t) => {
    const key = fresh(t.shape);
    top.set(t.id, key);
    return key;
  });
  const outputs = model.outputs.map((t) => walk(t, top));
  return { inputs, outputs, calls, shapes };
}
