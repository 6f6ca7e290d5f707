// Shared by the compiled-training-step tests: tfjs reference gradients (tf.variableGrads on the cpu
// backend, which has every gradient kernel) and a comparison with the compiled ONNX graph's.
import assert from 'node:assert/strict';
import { tf, tfl } from '../../../../src/engines/tfjs/tf.js';
import { computeGradients } from '../../../../src/engines/onnx/training/compile_training_step.js';
import { batchLoss } from '../../../../src/inference/losses.js';
import type { LossName } from '../../../../src/core/names.js';
import { randomArray, seededRandom } from '../parity.js';
import { assertClose } from '../../../helpers/assert_close.js';

export { randomizeWeights, randomInput } from '../parity.js';

export interface Reference {
  loss: number;
  gradients: Map<string, Float32Array>;
  /** Moving statistics after the step (BatchNorm in training mode updates them). */
  state: Map<string, Float32Array>;
}

/** tfjs's gradients of the batch loss w.r.t. every trainable weight (training-mode forward). */
export function tfjsGradients(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, loss: LossName): Reference {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => batchLoss(loss, y, model.apply(x, { training: true }) as tf.Tensor), variables);
  const gradients = new Map<string, Float32Array>();
  for (const w of model.trainableWeights) gradients.set(w.name, Float32Array.from(grads[(w.read() as tf.Variable).name].dataSync()));
  const state = new Map<string, Float32Array>();
  for (const w of model.nonTrainableWeights) state.set(w.name, Float32Array.from(w.read().dataSync()));
  const lossValue = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { loss: lossValue, gradients, state };
}

export { assertClose };

export function labelsFor(loss: LossName, batch: number, classes: number, seed: number): tf.Tensor {
  const random = seededRandom(seed);
  if (loss === 'sparse_categorical_crossentropy') return tf.tensor1d(Array.from({ length: batch }, () => Math.floor(random() * classes)), 'float32');
  if (loss === 'binary_crossentropy') return tf.tensor2d(Array.from({ length: batch * classes }, () => (random() < 0.5 ? 0 : 1)), [batch, classes]);
  const oneHot = new Float32Array(batch * classes);
  for (let i = 0; i < batch; i++) oneHot[i * classes + Math.floor(random() * classes)] = 1;
  return tf.tensor2d(oneHot, [batch, classes]);
}

/**
 * The compiled graph's gradients (and loss, and BN state) equal tfjs's. Runs ONNX first: the tfjs
 * training-mode forward updates the moving statistics the graph reads.
 */
export async function assertGradientsMatch(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, loss: LossName, tolerance = 1e-4): Promise<void> {
  const ours = await computeGradients(model, x, y, { loss, intraOpNumThreads: 1 });
  const ref = tfjsGradients(model, x, y, loss);
  assert.ok(Math.abs(ours.loss - ref.loss) <= tolerance * Math.max(1, Math.abs(ref.loss)), `loss ${ours.loss} vs tfjs ${ref.loss}`);
  assert.equal(ours.gradients.size, ref.gradients.size, `gradient count: ${[...ours.gradients.keys()]} vs ${[...ref.gradients.keys()]}`);
  for (const [name, expected] of ref.gradients) assertClose(ours.gradients.get(name), expected, `d loss / d ${name}`, tolerance);
  for (const [name, value] of ours.state) assertClose(value, ref.state.get(name)!, `state ${name}`, tolerance);
}

export function randomTensor(shape: number[], seed: number, low = -1, high = 1): tf.Tensor {
  return tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), seededRandom(seed), low, high), shape);
}
