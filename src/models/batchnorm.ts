// BatchNormalization rewrites `tlkit summary` offers: removing every BN (the lesson's experiment) and
// folding BN into the layer before it. (Keras's frozen-BN semantics live with the layer's patch:
// engines/tfjs/batch_norm_layer.ts.)
import { tf, tfl } from '../engines/tfjs/tf.js';
import { nodesInTopologicalOrder, rewriteModel, tensorConsumers, cloneLayer } from './graph_rewrite.js';
import { weightKind, weightsByKind } from './layer_weights.js';

type Layer = tfl.layers.Layer;

function isBatchNorm(layer: Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

/**
 * The model without any BatchNormalization layer (each BN's input feeds its consumers directly).
 * The lesson's experiment: MobileNet no-top drops from 3,228,864 to 3,185,088 params, all trainable.
 * Weights of the other layers are copied.
 */
export function removeBatchNorm(model: tfl.LayersModel): tfl.LayersModel {
  return rewriteModel(model, (ctx) => (isBatchNorm(ctx.layer) && ctx.inputs.length === 1 ? ctx.inputs : undefined));
}

const FOLDABLE = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense']);

/** Which weight of a foldable layer has its output channels on the last axis, or per input channel (depthwise). */
const SCALED_KERNEL: Record<string, string> = {
  Conv2D: 'kernel',
  Dense: 'kernel',
  DepthwiseConv2D: 'depthwise_kernel',
  SeparableConv2D: 'pointwise_kernel',
};

function normalisesLastAxis(bn: Layer, rank: number): boolean {
  const axis = (bn.getConfig() as { axis?: number | number[] }).axis;
  const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : NaN) : axis ?? -1;
  return a === -1 || a === rank - 1;
}

/**
 * BN pairs that can be folded: the BN's only input comes from a Conv2D / DepthwiseConv2D / SeparableConv2D /
 * Dense with a linear activation, that layer is applied once, the BN is its only consumer and the BN
 * normalises the channel (last) axis.
 */
function foldablePairs(model: tfl.LayersModel): Map<Layer, Layer> {
  const consumers = tensorConsumers(model);
  const outputIds = new Set(model.outputs.map((t) => t.id));
  const pairs = new Map<Layer, Layer>();
  for (const node of nodesInTopologicalOrder(model)) {
    const bn = node.outboundLayer;
    if (!isBatchNorm(bn) || node.inputTensors.length !== 1) continue;
    const x = node.inputTensors[0];
    const producer = (x as unknown as { sourceLayer: Layer }).sourceLayer;
    if (!FOLDABLE.has(producer.getClassName())) continue;
    if (producer.inboundNodes.length !== 1 || bn.inboundNodes.length !== 1) continue;
    if ((consumers.get(x.id)?.length ?? 0) !== 1 || outputIds.has(x.id)) continue;
    if ((producer.getConfig() as { activation?: unknown }).activation !== 'linear') continue;
    if (!normalisesLastAxis(bn, x.shape.length)) continue;
    pairs.set(producer, bn);
  }
  return pairs;
}

/** Folded weights of `producer` followed by `bn`: scale = gamma / sqrt(var + eps) per output channel. */
function foldedWeights(producer: Layer, bn: Layer): Record<string, tf.Tensor> {
  return tf.tidy(() => {
    const w = weightsByKind(producer);
    const b = weightsByKind(bn);
    const epsilon = (bn.getConfig() as { epsilon: number }).epsilon;
    const mean = b.get('moving_mean')!;
    const variance = b.get('moving_variance')!;
    const gamma = b.get('gamma') ?? tf.onesLike(mean);
    const beta = b.get('beta') ?? tf.zerosLike(mean);
    const scale = tf.div(gamma, tf.sqrt(tf.add(variance, epsilon)));
    const kind = SCALED_KERNEL[producer.getClassName()];
    const kernel = w.get(kind)!;
    // A depthwise kernel is [kh, kw, in, multiplier]; output channel c*multiplier + m scales [.., c, m].
    const scaled = producer.getClassName() === 'DepthwiseConv2D' ? tf.mul(kernel, tf.reshape(scale, kernel.shape.slice(2))) : tf.mul(kernel, scale);
    const bias = w.get('bias') ?? tf.zerosLike(mean);
    const out: Record<string, tf.Tensor> = Object.fromEntries(w);
    out[kind] = scaled;
    out.bias = tf.add(tf.mul(tf.sub(bias, mean), scale), beta);
    return out;
  });
}

/**
 * Folds each BatchNormalization that directly follows a Conv2D / DepthwiseConv2D / SeparableConv2D / Dense
 * (its only consumer) into that layer's kernel and bias (a bias is added when absent). The result computes
 * what the original computes in inference mode; BNs that cannot be folded stay. For deployment and for the
 * fast engines, not for further training.
 */
export function foldBatchNorm(model: tfl.LayersModel): tfl.LayersModel {
  // rewriteModel descends into nested models with the same hook, so plan the pairs of every level.
  const pairs = new Map<Layer, Layer>();
  const plan = (m: tfl.LayersModel): void => {
    for (const [producer, bn] of foldablePairs(m)) pairs.set(producer, bn);
    for (const layer of m.layers) if (layer instanceof tfl.LayersModel) plan(layer);
  };
  plan(model);
  const foldedBn = new Set(pairs.values());
  return rewriteModel(model, (ctx) => {
    if (foldedBn.has(ctx.layer)) return ctx.inputs;
    const bn = pairs.get(ctx.layer);
    if (!bn) return undefined;
    const folded = cloneLayer(ctx.layer, { useBias: true, biasInitializer: { className: 'Zeros', config: {} }, biasRegularizer: null, biasConstraint: null });
    const output = folded.apply(ctx.inputs[0]) as tfl.SymbolicTensor;
    const values = foldedWeights(ctx.layer, bn);
    folded.setWeights(folded.weights.map((v) => values[weightKind(v)]));
    // setWeights shares the data, so only tensors made here may be freed, never the original variables.
    const original = new Set<tf.Tensor>(ctx.layer.getWeights());
    for (const t of Object.values(values)) if (!original.has(t)) t.dispose();
    folded.trainable = ctx.layer.trainable;
    return output;
  });
}
