// Routes tfjs-layers BatchNormalization in training mode through the one-pass wasm kernels of
// kernels/batch_norm_training.ts. Same values, same gradients, same moving-average updates as
// tfjs-layers; about half the time and a fraction of the memory of a training step on wasm (see
// bench/train.ts). It also trains BN layers built with scale=false or center=false, where tfjs-layers
// 4.22 dereferences the missing gamma/beta in training mode.
// Frozen layers and every other backend go to the layer's own `call` untouched (the models layer
// gives frozen BN Keras's inference semantics there), except trainable layers without gamma or beta,
// which take the same formula in plain tfjs ops on any backend.
import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNormTraining } from './kernels/batch_norm_training.js';

const PATCHED = Symbol.for('tlkit.fastBatchNormTraining');

interface BatchNormInternals {
  trainable: boolean;
  axis: number;
  epsilon: number;
  momentum: number;
  gamma: tfl.LayerVariable | null;
  beta: tfl.LayerVariable | null;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
  _trainableWeights?: tfl.LayerVariable[];
}

type Call = (this: BatchNormInternals, inputs: Tensor | Tensor[], kwargs: Record<string, unknown>) => Tensor | Tensor[];

/** Frozen = takes no gradient updates (trainable false, or every own trainable weight switched off). */
function isFrozen(layer: BatchNormInternals): boolean {
  if (!layer.trainable) return true;
  const own = layer._trainableWeights ?? [];
  return own.length > 0 && own.every((w) => !w.trainable);
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

/** Installs the fast training path on the BatchNormalization class. Idempotent. */
export function installFastBatchNormTraining(): void {
  const proto = Object.getPrototypeOf(tfl.layers.batchNormalization({})) as { call: Call; [PATCHED]?: boolean };
  if (proto[PATCHED]) return;
  const original = proto.call;
  proto.call = function (this: BatchNormInternals, inputs, kwargs) {
    const training = kwargs?.training === true;
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const usable =
      training &&
      !isFrozen(this) &&
      tf.getBackend() === 'wasm' &&
      input !== undefined &&
      (!Array.isArray(inputs) || inputs.length === 1) &&
      input.dtype === 'float32' &&
      input.rank >= 2 &&
      (this.axis === -1 || this.axis === input.rank - 1);
    if (!usable) {
      const missingAffine = this.gamma == null || this.beta == null;
      if (training && !isFrozen(this) && missingAffine && input !== undefined && (this.axis === -1 || this.axis === input.rank - 1)) {
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
