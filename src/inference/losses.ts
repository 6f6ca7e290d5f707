// Per-sample losses on probabilities (the classifier ends in softmax / sigmoid), with Keras's epsilon
// clipping, and the class-weighted batch mean Keras uses (sum(loss * w) / batch size).
import { tf } from '../engines/tfjs/tf.js';
import { invalidArgument } from '../core/errors.js';
import { LOSS_NAMES, type LossName } from '../core/names.js';

const EPSILON = 1e-7;

/** Labels as the loss wants them: binary -> same shape as the [N,1] output; sparse -> int indices [N]. */
function alignLabels(loss: LossName, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  if (loss === 'binary_crossentropy') return tf.cast(tf.reshape(yTrue, yPred.shape), 'float32');
  if (loss === 'sparse_categorical_crossentropy') return tf.cast(tf.reshape(yTrue, [yTrue.shape[0]]), 'int32');
  return tf.cast(yTrue, 'float32');
}

/** Loss of each sample, shape [N]. */
export function sampleLosses(loss: LossName, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const y = alignLabels(loss, yTrue, yPred);
    const p = tf.clipByValue(yPred, EPSILON, 1 - EPSILON);
    if (loss === 'binary_crossentropy') {
      const bce = tf.neg(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p)))));
      return tf.mean(tf.reshape(bce, [bce.shape[0], -1]), 1) as tf.Tensor1D;
    }
    const oneHot = loss === 'sparse_categorical_crossentropy' ? tf.cast(tf.oneHot(y as tf.Tensor1D, yPred.shape[yPred.rank - 1]), 'float32') : y;
    // Keras renormalises the probabilities before taking the log.
    const normalised = tf.div(yPred, tf.sum(yPred, -1, true));
    return tf.neg(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(normalised, EPSILON, 1 - EPSILON))), -1)) as tf.Tensor1D;
  });
}

/** Batch loss: mean over the batch of sample loss times sample weight (weights default to 1). */
export function batchLoss(loss: LossName, yTrue: tf.Tensor, yPred: tf.Tensor, sampleWeight?: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const per = sampleLosses(loss, yTrue, yPred);
    return tf.mean(sampleWeight ? tf.mul(per, sampleWeight) : per) as tf.Scalar;
  });
}

/** Predicted class index per sample: argmax, or p > 0.5 for a single sigmoid unit. */
export function predictedClasses(yPred: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const last = yPred.shape[yPred.rank - 1];
    if (yPred.rank === 1 || last === 1) return tf.cast(tf.greater(tf.reshape(yPred, [yPred.shape[0]]), 0.5), 'int32') as tf.Tensor1D;
    return tf.cast(tf.argMax(yPred, -1), 'int32') as tf.Tensor1D;
  });
}

/** True class index per sample from labels in the loss's encoding. */
export function trueClasses(loss: LossName, yTrue: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    if (loss === 'categorical_crossentropy') return tf.cast(tf.argMax(yTrue, -1), 'int32') as tf.Tensor1D;
    // binary labels may be soft; Keras's binary_accuracy rounds them at 0.5 too.
    if (loss === 'binary_crossentropy') return tf.cast(tf.greater(tf.reshape(yTrue, [yTrue.shape[0]]), 0.5), 'int32') as tf.Tensor1D;
    return tf.cast(tf.round(tf.reshape(yTrue, [yTrue.shape[0]])), 'int32') as tf.Tensor1D;
  });
}
