// Weights by their Keras kind ('kernel', 'bias', 'gamma', 'moving_mean', ...). tfjs names a layer's
// variables '<layer name>/<kind>' (plus '_N' when the global name was taken); the kind is what Keras
// .h5 files, summaries and BatchNorm folding care about.
import type { tf, tfl } from '../engines/tfjs/tf.js';

export function weightKind(variable: tfl.LayerVariable): string {
  const name = (variable as unknown as { originalName?: string }).originalName ?? variable.name;
  return name.slice(name.lastIndexOf('/') + 1);
}

/** The layer's current weight values keyed by kind: the live variables, so never dispose them. */
export function weightsByKind(layer: tfl.layers.Layer): Map<string, tf.Tensor> {
  const values = layer.getWeights();
  return new Map(layer.weights.map((w, i) => [weightKind(w), values[i]]));
}
