// Where the frozen part of a model ends: the last layer L such that every layer up to L (in the
// model's topological order) takes no gradient, and L's output is the only tensor the rest needs.
// This is the `frozenUpTo` the trainer passes to createFrozenEngine when the user froze a backbone.
import type { tfl } from '../tfjs/tf.js';
import { isInputLayer, nodeInModel, type Layer } from './model_graph.js';

/**
 * Layers without weights that still behave differently while training: the ONNX prefix runs them in
 * inference mode, so they must stay in the (tfjs) trainable rest.
 */
const TRAINING_TIME_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

function takesNoGradient(layer: Layer): boolean {
  if (TRAINING_TIME_LAYERS.has(layer.getClassName())) return false;
  return layer.trainableWeights.length === 0;
}

/**
 * Layers that only reorder values (a Flatten head's first layer). The prefix never ends on one: it costs
 * nothing in the trained rest, and the map before it is the tensor other cuts read too (the linear probe
 * pools it, the audit embeds it), so the feature store holds one copy of those values, not two.
 */
const RESHAPE_LAYERS = new Set(['Flatten', 'Reshape']);

/**
 * The name of the last layer of the longest frozen prefix that can be cut at a single tensor, or
 * undefined when the first layer after the inputs is already trainable. A frozen BatchNormalization
 * counts as frozen: Keras runs it in inference mode, as the ONNX prefix does. A trailing reshape
 * (RESHAPE_LAYERS) is left to the rest.
 */
export function frozenPrefixEnd(model: tfl.LayersModel): string | undefined {
  const layers = model.layers;
  let end = -1;
  for (let i = 0; i < layers.length; i++) {
    if (isInputLayer(layers[i])) continue;
    if (!takesNoGradient(layers[i])) break;
    end = i;
  }
  const outputIds = new Set(model.outputs.map((t) => t.id));
  for (let k = end; k >= 0; k--) {
    if (isInputLayer(layers[k]) || RESHAPE_LAYERS.has(layers[k].getClassName())) continue;
    const outputs = nodeInModel(model, layers[k]).outputTensors;
    if (outputs.length !== 1 || outputIds.has(outputs[0].id)) continue;
    if (isSingleBoundary(model, layers, k, outputs[0].id)) return layers[k].name;
  }
  return undefined;
}

/** True when the layers after index k consume, from layers up to k, only the tensor `boundaryId`. */
function isSingleBoundary(model: tfl.LayersModel, layers: Layer[], k: number, boundaryId: number): boolean {
  const before = new Set(layers.slice(0, k + 1));
  for (let j = k + 1; j < layers.length; j++) {
    for (const input of nodeInModel(model, layers[j]).inputTensors) {
      if (before.has(input.sourceLayer) && input.id !== boundaryId) return false;
    }
  }
  return true;
}
