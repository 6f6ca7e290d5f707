// The one patch of tfjs-layers' BatchNormalization.call, with tlkit's two changes to it:
// 1. Keras semantics for a frozen BN: Keras (TF >= 2.0) runs a BatchNormalization layer with
//    trainable=False in inference mode (moving statistics, never updated), even inside fit();
//    tfjs-layers ignores `trainable` there.
// 2. Training mode through the one-pass wasm kernels of kernels/batch_norm_training.ts: same values,
//    gradients and moving-average updates as tfjs-layers in about half the time (bench/train.ts); and
//    BN layers built with scale=false or center=false (InceptionV3), which tfjs-layers 4.22 cannot
//    train, take the same formula in plain tfjs ops on any backend.
// Everything else goes to the layer's own `call`.
import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNormTraining } from './kernels/batch_norm_training.js';

const PATCHED = Symbol.for('tlkit.batchNormalizationLayer');

interface BatchNormInternals {
  trainable: boolean;
  axis: number | number[];
  epsilon: number;
  momentum: number;
  gamma: tfl.LayerVariable | null;
  beta: tfl.LayerVariable | null;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
  _trainableWeights?: tfl.LayerVariable[];
}

type Call = (this: BatchNormInternals, inputs: Tensor | Tensor[], kwargs: Record<string, unknown>) => Tensor | Tensor[];

/**
 * True when a layer takes no gradient updates: `trainable` is false, or every trainable weight it has
 * was switched off (what tfjs's `model.trainable = false` does to the layers of a frozen model).
 */
export function isFrozen(layer: { trainable: boolean }): boolean {
  if (!layer.trainable) return true;
  const own = (layer as { _trainableWeights?: tfl.LayerVariable[] })._trainableWeights ?? [];
  return own.length > 0 && own.every((w) => !w.trainable);
}

/**
 * A frozen BN is a fixed per-channel affine map: x * scale + shift with scale = gamma / sqrt(var + eps)
 * and shift = beta - mean * scale. Computed here rather than through tf.batchNorm, whose gradient
 * bookkeeping clones every input and fails on the absent gamma of `scale: false` layers (InceptionV3)
 * when a frozen BN sits inside a trained part of the graph. Returns undefined for a BN on another axis.
 */
function frozenInference(bn: BatchNormInternals, input: Tensor): Tensor | undefined {
  const axis = axisOf(bn);
  if (!(axis === -1 || axis === input.rank - 1)) return undefined;
  return tf.tidy(() => {
    let scale = tf.rsqrt(tf.add(bn.movingVariance.read(), bn.epsilon));
    if (bn.gamma) scale = tf.mul(scale, bn.gamma.read());
    let shift = tf.neg(tf.mul(bn.movingMean.read(), scale));
    if (bn.beta) shift = tf.add(shift, bn.beta.read());
    return tf.add(tf.mul(input, scale), shift);
  });
}

function movingAverage(variable: tfl.LayerVariable, value: Tensor, momentum: number): void {
  // tfjs-layers' doMovingAverage, operation for operation, so the stored values are identical.
  tf.tidy(() => {
    const decay = 1 - momentum;
    const orig = variable.read();
    variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), decay)));
  });
}

/**
 * Training-mode BN with plain tfjs ops (any backend), for layers without gamma or beta, which
 * tfjs-layers 4.22 cannot train (InceptionV3's BN has scale=false). Same formula as tfjs-layers:
 * biased batch moments over every axis but the last, then the moving-average updates.
 */
function batchNormTrainingGeneric(layer: BatchNormInternals, input: Tensor): Tensor {
  const axes = Array.from({ length: input.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(input, axes);
  // tfjs cannot differentiate batchNorm without scale or offset (it clones the missing input): pass 1 and 0.
  const gamma = layer.gamma?.read() ?? tf.onesLike(mean);
  const beta = layer.beta?.read() ?? tf.zerosLike(mean);
  const y = tf.batchNorm(input, mean, variance, beta, gamma, layer.epsilon);
  movingAverage(layer.movingMean, mean, layer.momentum);
  movingAverage(layer.movingVariance, variance, layer.momentum);
  return y;
}

/** The last axis as a number, or NaN when the layer normalises over several axes. */
function axisOf(bn: BatchNormInternals): number {
  return Array.isArray(bn.axis) ? (bn.axis.length === 1 ? bn.axis[0] : NaN) : bn.axis;
}

/** Installs tlkit's BatchNormalization semantics on the class (every instance, before or after). Idempotent. */
export function installBatchNormLayer(): void {
  const proto = Object.getPrototypeOf(tfl.layers.batchNormalization({})) as { call: Call; [PATCHED]?: boolean };
  if (proto[PATCHED]) return;
  const original = proto.call;
  proto.call = function (this: BatchNormInternals, inputs, kwargs) {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    if (isFrozen(this)) {
      return (input !== undefined ? frozenInference(this, input) : undefined) ?? original.call(this, inputs, { ...kwargs, training: false });
    }
    const training = kwargs?.training === true;
    const usable =
      training &&
      tf.getBackend() === 'wasm' &&
      input !== undefined &&
      (!Array.isArray(inputs) || inputs.length === 1) &&
      input.dtype === 'float32' &&
      input.rank >= 2 &&
      (axisOf(this) === -1 || axisOf(this) === input.rank - 1);
    if (!usable) {
      const missingAffine = this.gamma == null || this.beta == null;
      if (training && missingAffine && input !== undefined && (axisOf(this) === -1 || axisOf(this) === input.rank - 1)) {
        return tf.tidy(() => batchNormTrainingGeneric(this, input));
      }
      return original.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(input, this.gamma?.read() ?? null, this.beta?.read() ?? null, this.epsilon);
      movingAverage(this.movingMean, mean, this.momentum);
      movingAverage(this.movingVariance, variance, this.momentum);
      return y;
    });
  };
  proto[PATCHED] = true;
}
