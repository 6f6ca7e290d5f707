// Walking a tfjs-layers functional graph in dependency order, from the tensors wanted back to the ones
// already known, with values of the caller's choosing: ONNX values (export), integer keys (the
// training trace), fresh symbolic tensors (splitAtLayer). The order of the walk is the same for all;
// only what one layer call turns into differs.
import { isInputLayer, isModel, producerNode, type GraphNode, type Layer, type SymbolicTensor } from './model_graph.js';

/** Values known so far, by symbolic tensor id. The walk adds every value it computes. */
export type TensorScope<V> = Map<number, V>;

export interface GraphWalk<V> {
  /** The values of one layer call's outputs (in `node.outputTensors` order), given its inputs' values. */
  callLayer(layer: Layer, node: GraphNode, inputs: V[]): V[];
  /** The error to throw when the walk reaches an input layer whose tensor has no value in scope. */
  unboundInput(layer: Layer): Error;
  /**
   * true: walk into a nested model (a backbone used as one layer) and call `callLayer` on its layers,
   * each call of the nested model in a scope of its own, so a model called twice gives two sets of
   * values. false (default): a nested model is one `callLayer` like any other layer.
   */
  inlineNestedModels?: boolean;
  /** What the scope keeps for `tensor`, an output of a call, given the value computed for it. Default: the value. */
  bindOutput?(value: V, tensor: SymbolicTensor): V;
}

/** The value of `target` in `scope`, first computing, in dependency order, every call it needs that `scope` lacks. */
export function resolveTensor<V>(target: SymbolicTensor, scope: TensorScope<V>, walk: GraphWalk<V>): V {
  // Explicit stack: deep backbones exceed comfortable recursion depths.
  const stack: SymbolicTensor[] = [target];
  while (stack.length > 0) {
    const tensor = stack[stack.length - 1];
    if (scope.has(tensor.id)) {
      stack.pop();
      continue;
    }
    const layer = tensor.sourceLayer;
    if (isInputLayer(layer)) throw walk.unboundInput(layer);
    const node = producerNode(tensor);
    const missing = node.inputTensors.filter((t) => !scope.has(t.id));
    if (missing.length > 0) {
      stack.push(...missing);
      continue;
    }
    const inputs = node.inputTensors.map((t) => scope.get(t.id)!);
    let outputs: V[];
    if (walk.inlineNestedModels && isModel(layer)) {
      const inner: TensorScope<V> = new Map(layer.inputs.map((t, i) => [t.id, inputs[i]]));
      outputs = layer.outputs.map((t) => resolveTensor(t, inner, walk));
    } else {
      outputs = walk.callLayer(layer, node, inputs);
    }
    node.outputTensors.forEach((t, i) => scope.set(t.id, walk.bindOutput ? walk.bindOutput(outputs[i], t) : outputs[i]));
    stack.pop();
  }
  return scope.get(target.id)!;
}
