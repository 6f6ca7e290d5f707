// Optimizers from tfjs, by Keras name, with their learning rate readable and settable at run time
// (ReduceLROnPlateau) and their slots (Adam moments, RMSprop accumulators) saveable for checkpoints.
import { tf } from '../../engines/tfjs/tf.js';
import { invalidArgument } from '../../core/errors.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../../core/names.js';

/** Keras defaults: Adam 1e-3, SGD 1e-2, RMSprop 1e-3. */
export const DEFAULT_LEARNING_RATE: Record<OptimizerName, number> = { adam: 1e-3, sgd: 1e-2, rmsprop: 1e-3 };

export function createOptimizer(optimizer: OptimizerName | tf.Optimizer, learningRate?: number): tf.Optimizer {
  if (typeof optimizer !== 'string') {
    if (learningRate !== undefined) setLearningRate(optimizer, learningRate);
    return optimizer;
  }
  if (!(OPTIMIZER_NAMES as readonly string[]).includes(optimizer)) throw invalidArgument('optimizer', optimizer, `one of ${OPTIMIZER_NAMES.join(', ')} or a tf.Optimizer`);
  const lr = learningRate ?? DEFAULT_LEARNING_RATE[optimizer];
  if (!(lr > 0) || !Number.isFinite(lr)) throw invalidArgument('learningRate', learningRate, 'a finite number > 0');
  // Keras's epsilons (1e-7) rather than tfjs's defaults, so runs compare with the Keras reference.
  if (optimizer === 'adam') return tf.train.adam(lr, 0.9, 0.999, 1e-7);
  if (optimizer === 'rmsprop') return tf.train.rmsprop(lr, 0.9, 0, 1e-7);
  return tf.train.sgd(lr);
}

interface WithLearningRate {
  learningRate: number;
  setLearningRate?: (lr: number) => void;
}

export function getLearningRate(optimizer: tf.Optimizer): number {
  return (optimizer as unknown as WithLearningRate).learningRate;
}

export function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  const o = optimizer as unknown as WithLearningRate;
  // SGD caches -lr as a tensor: only its setter updates that.
  if (typeof o.setLearningRate === 'function') o.setLearningRate(learningRate);
  else o.learningRate = learningRate;
}

export interface SavedArray {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

/**
 * The optimizer's slots, in its own order (tfjs matches slots to variables by position, so restoring
 * needs the same trainable variable order, which a model rebuilt the same way has).
 */
export async function saveOptimizerState(optimizer: tf.Optimizer): Promise<SavedArray[]> {
  const named = await optimizer.getWeights();
  const out: SavedArray[] = [];
  for (const { name, tensor } of named) {
    const dtype = tensor.dtype === 'int32' ? 'int32' : 'float32';
    const data = dtype === 'int32' ? Int32Array.from(await tensor.data()) : Float32Array.from(await tensor.data());
    out.push({ name, dtype, shape: tensor.shape.slice(), data });
  }
  // getWeights makes a fresh scalar for the iteration count; the slot variables belong to the optimizer.
  if (named.length > 0 && named[0].name === 'iter') named[0].tensor.dispose();
  return out;
}

export async function loadOptimizerState(optimizer: tf.Optimizer, saved: SavedArray[]): Promise<void> {
  const named = saved.map((s) => ({ name: s.name, tensor: tf.tensor(s.data, s.shape, s.dtype) }));
  await optimizer.setWeights(named);
  // setWeights copies into new variables (tensor.variable()), so the inputs can go.
  tf.dispose(named.map((n) => n.tensor));
}
