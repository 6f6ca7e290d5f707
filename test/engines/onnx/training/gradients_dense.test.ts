// Step 1: Dense, activations, Flatten, global pooling and the three cross-entropy losses: the compiled
// ONNX graph's gradients equal tfjs's (cpu backend) within 1e-4.
import { before, describe, test } from 'node:test';
import { initEngine, tf, tfl } from '../../../../src/engines/tfjs/tf.js';
import { assertGradientsMatch, labelsFor, randomizeWeights, randomTensor } from './helpers.js';

const L = tfl.layers;
type ST = tfl.SymbolicTensor;

before(async () => {
  await initEngine();
  await tf.setBackend('cpu');
});

function model(inputShape: number[], body: (x: ST) => ST, seed: number): tfl.LayersModel {
  const input = tfl.input({ shape: inputShape });
  const m = tfl.model({ inputs: input, outputs: body(input) });
  randomizeWeights(m, seed);
  return m;
}

describe('compiled training step: gradients of heads match tfjs', () => {
  test('MLP: Dense relu -> Dense tanh -> Dense swish -> Dense softmax, sparse categorical', async () => {
    const m = model([6], (x) => {
      let h = L.dense({ units: 8, activation: 'relu' }).apply(x) as ST;
      h = L.dense({ units: 7, activation: 'tanh' }).apply(h) as ST;
      h = L.dense({ units: 6, activation: 'swish', useBias: false }).apply(h) as ST;
      h = L.dense({ units: 5, activation: 'sigmoid' }).apply(h) as ST;
      return L.dense({ units: 4, activation: 'softmax' }).apply(h) as ST;
    }, 1);
    await assertGradientsMatch(m, randomTensor([5, 6], 2), labelsFor('sparse_categorical_crossentropy', 5, 4, 3), 'sparse_categorical_crossentropy');
  });

  test('categorical with one-hot labels; Activation and ReLU(6) layers', async () => {
    const m = model([6], (x) => {
      let h = L.dense({ units: 8 }).apply(x) as ST;
      h = L.reLU({ maxValue: 6 }).apply(L.activation({ activation: 'linear' }).apply(h)) as ST;
      h = L.dense({ units: 3 }).apply(h) as ST;
      return L.softmax().apply(h) as ST;
    }, 4);
    await assertGradientsMatch(m, randomTensor([4, 6], 5, -3, 3), labelsFor('categorical_crossentropy', 4, 3, 6), 'categorical_crossentropy');
  });

  test('binary: Dense(1, sigmoid) and multi-unit sigmoid', async () => {
    for (const units of [1, 3]) {
      const m = model([5], (x) => L.dense({ units, activation: 'sigmoid' }).apply(L.dense({ units: 6, activation: 'relu' }).apply(x)) as ST, 7 + units);
      await assertGradientsMatch(m, randomTensor([6, 5], 8), labelsFor('binary_crossentropy', 6, units, 9), 'binary_crossentropy');
    }
  });

  test('Flatten, GlobalAveragePooling2D and GlobalMaxPooling2D on 4-D inputs; the reference head', async () => {
    const flat = model([3, 4, 2], (x) => L.dense({ units: 2, activation: 'softmax' }).apply(L.dense({ units: 5, activation: 'relu' }).apply(L.flatten().apply(x))) as ST, 10);
    await assertGradientsMatch(flat, randomTensor([3, 3, 4, 2], 11), labelsFor('sparse_categorical_crossentropy', 3, 2, 12), 'sparse_categorical_crossentropy');
    const gap = model([4, 3, 5], (x) => L.dense({ units: 3, activation: 'softmax' }).apply(L.globalAveragePooling2d({}).apply(x)) as ST, 13);
    await assertGradientsMatch(gap, randomTensor([2, 4, 3, 5], 14), labelsFor('categorical_crossentropy', 2, 3, 15), 'categorical_crossentropy');
    // Pooling whose input carries a gradient is covered with convolutions (gradients_conv.test.ts).
    const gmp = model([4, 3, 5], (x) => L.dense({ units: 3, activation: 'softmax' }).apply(L.globalMaxPooling2d({}).apply(x)) as ST, 16);
    await assertGradientsMatch(gmp, randomTensor([2, 4, 3, 5], 17), labelsFor('sparse_categorical_crossentropy', 2, 3, 18), 'sparse_categorical_crossentropy');
  });
});
