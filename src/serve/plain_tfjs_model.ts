// A trained model as plain tfjs can load it: tlkit's own layer classes replaced by built-in tfjs-layers
// layers that compute the same outputs. Today that is Keras's Normalization (EfficientNet's graph),
// which tfjs-layers lacks: (x - mean) / max(sqrt(variance), 1e-7) per channel is a 1x1 DepthwiseConv2D
// with kernel 1/std and bias -mean/std.
import { tf, tfl } from '../engines/tfjs/tf.js';
import { TlkitError } from '../core/errors.js';
import { rewriteModel, type LayerRewriteContext } from '../models/graph_rewrite.js';
import { Normalization } from '../models/layers/normalization.js';

/** Keras's backend.epsilon(), the floor Normalization puts on the standard deviation. */
const EPSILON = 1e-7;

/** Layer classes tlkit registers itself; a model with one of them left does not load in plain tfjs. */
export const TLKIT_LAYER_CLASSES: readonly string[] = [Normalization.className];

function normalizationAsDepthwise(ctx: LayerRewriteContext): tfl.SymbolicTensor {
  const layer = ctx.layer as Normalization;
  const rank = ctx.inputs[0].shape.length;
  const channelAxis = rank - 1;
  if (layer.axis.length !== 1 || (layer.axis[0] !== -1 && layer.axis[0] !== channelAxis)) {
    throw new TlkitError(`layer '${layer.name}': Normalization over axis ${JSON.stringify(layer.axis)} has no built-in tfjs equivalent here (only the channel axis, -1, is rewritten)`);
  }
  const [mean, variance] = layer.getWeights();
  const depthwise = tfl.layers.depthwiseConv2d({ kernelSize: 1, depthMultiplier: 1, useBias: true, name: layer.name });
  const output = depthwise.apply(ctx.inputs[0]) as tfl.SymbolicTensor;
  const [kernel, bias] = tf.tidy(() => {
    const std = tf.maximum(tf.sqrt(variance), EPSILON);
    const scale = tf.div(1, std);
    return [tf.reshape(scale, [1, 1, -1, 1]), tf.neg(tf.mul(mean, scale))];
  });
  depthwise.setWeights([kernel, bias]);
  tf.dispose([kernel, bias]);
  return output;
}

/** A copy of `model` with only built-in tfjs-layers classes; the caller disposes it. */
export function toPlainTfjsModel(model: tfl.LayersModel): tfl.LayersModel {
  const plain = rewriteModel(model, (ctx) => (ctx.layer instanceof Normalization ? normalizationAsDepthwise(ctx) : undefined));
  const left = customLayerClasses(plain);
  if (left.length > 0) {
    plain.dispose();
    throw new TlkitError(`the model keeps layers plain tfjs cannot load: ${left.join(', ')}`);
  }
  return plain;
}

/** tlkit-only layer classes anywhere in `model` (nested models included), as 'name (Class)'. */
export function customLayerClasses(model: tfl.LayersModel): string[] {
  const found: string[] = [];
  const visit = (m: tfl.LayersModel): void => {
    for (const layer of m.layers) {
      if (layer instanceof tfl.LayersModel) visit(layer);
      else if (TLKIT_LAYER_CLASSES.includes(layer.getClassName())) found.push(`${layer.name} (${layer.getClassName()})`);
    }
  };
  visit(model);
  return found;
}
