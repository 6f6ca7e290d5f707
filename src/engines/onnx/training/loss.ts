// The loss of the compiled step and its gradient w.r.t. the output layer's logits. The forward value
// follows tlkit's losses.ts (Keras: probabilities clipped to [1e-7, 1-1e-7], batch mean of
// sampleWeight * per-sample loss). The gradient is the exact one of the softmax/sigmoid + cross-entropy
// pair, (p - y) weighted, as Keras/TensorFlow compute it from the logits; tfjs differentiates through
// the clip instead, which agrees except for samples whose true-class probability is below 1e-7
// (tfjs gives them no gradient at all).
import type { LossName } from '../../../core/names.js';
import type { OnnxValue } from '../graph_builder.js';
import type { Ops } from './ops.js';
import { UnsupportedLayer } from '../layers/index.js';

export const LOSS_EPSILON = 1e-7;

export interface LossNodes {
  /** Scalar loss value. */
  loss: string;
  /** dL/dlogits, same shape as the output. */
  logitGrad: OnnxValue;
}

/**
 * `probs`: the model output [N, K]; `labels`: [N, K] (one-hot for the categorical losses; sparse
 * labels are one-hot encoded by the caller); `sampleWeight`: [N].
 */
export function emitLoss(o: Ops, loss: LossName, kind: 'softmax' | 'sigmoid', probs: OnnxValue, labels: string, sampleWeight: string, batch: number): LossNodes {
  if (probs.shape.length !== 2 || probs.layout !== 'native') throw new UnsupportedLayer(`the model output must be rank 2 [batch, classes]; got shape ${JSON.stringify(probs.shape)}`);
  const units = probs.shape[1] as number;
  const p = probs.name;
  const weightColumn = o.reshape(sampleWeight, [batch, 1], 'loss_sample_weight');
  if (loss === 'binary_crossentropy') {
    if (kind !== 'sigmoid') throw new UnsupportedLayer(`binary_crossentropy needs a sigmoid output; the model ends in ${kind}`);
    const clipped = o.op('Clip', [p, o.scalar(LOSS_EPSILON), o.scalar(1 - LOSS_EPSILON)], 'loss_clip');
    const logP = o.op('Log', [clipped], 'loss_logp');
    const log1mP = o.op('Log', [o.sub(o.scalar(1), clipped, 'loss_1mp')], 'loss_log1mp');
    const oneMinusY = o.sub(o.scalar(1), labels, 'loss_1my');
    const perUnit = o.op('Neg', [o.add(o.mul(labels, logP, 'loss_ylogp'), o.mul(oneMinusY, log1mP, 'loss_1mylog'), 'loss_ll')], 'loss_bce');
    const perSample = o.reduceMean(perUnit, [1], true, 'loss_per_sample');
    const value = o.reduceMean(o.mul(perSample, weightColumn, 'loss_weighted'), [0, 1], false, 'loss');
    const scale = o.mul(weightColumn, o.scalar(1 / (batch * units)), 'loss_grad_scale');
    const grad = o.mul(o.sub(p, labels, 'loss_p_minus_y'), scale, 'loss_dlogits');
    return { loss: value, logitGrad: { name: grad, shape: probs.shape, layout: 'native' } };
  }
  if (kind !== 'softmax') throw new UnsupportedLayer(`${loss} needs a softmax output; the model ends in ${kind}`);
  const normalised = o.op('Div', [p, o.reduceSum(p, [1], true, 'loss_psum')], 'loss_pnorm');
  const clipped = o.op('Clip', [normalised, o.scalar(LOSS_EPSILON), o.scalar(1 - LOSS_EPSILON)], 'loss_clip');
  const perSample = o.op('Neg', [o.reduceSum(o.mul(labels, o.op('Log', [clipped], 'loss_logp'), 'loss_ylogp'), [1], true, 'loss_ce_sum')], 'loss_per_sample');
  const value = o.reduceMean(o.mul(perSample, weightColumn, 'loss_weighted'), [0, 1], false, 'loss');
  // d/dz of -sum(y log softmax(z)) = p * sum(y) - y (p - y for labels that sum to 1).
  const labelMass = o.reduceSum(labels, [1], true, 'loss_label_mass');
  const raw = o.sub(o.mul(p, labelMass, 'loss_p_mass'), labels, 'loss_p_minus_y');
  const grad = o.mul(raw, o.mul(weightColumn, o.scalar(1 / batch), 'loss_grad_scale'), 'loss_dlogits');
  return { loss: value, logitGrad: { name: grad, shape: probs.shape, layout: 'native' } };
}
