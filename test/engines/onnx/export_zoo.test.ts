// Every registered backbone, with random weights and real-looking BN statistics, at a small input size:
// onnxruntime-node running the ONNX export agrees with tfjs within 1e-4 (relative to the output's scale
// when that exceeds 1). Both the classifier (include_top) and the no-top feature map are checked.
import { before, describe, test } from 'node:test';
import { initEngine, tf } from '../../../src/engines/tfjs/tf.js';
import { listBackbones } from '../../../src/models/zoo.js';
import { assertOnnxMatchesTfjs, randomInput, randomizeWeights } from './parity.js';

before(async () => {
  await initEngine();
});

/** Small but legal sizes: the family minimum, made non-square and odd where the family allows it. */
function smallShape(minInputSize: number): [number, number, number] {
  return [minInputSize + 3, minInputSize + 1, 3];
}

describe('ONNX export: every zoo backbone', () => {
  const backbones = listBackbones();
  test('the zoo is not empty', () => {
    if (backbones.length === 0) throw new Error('no backbone registered');
  });
  for (const definition of backbones) {
    test(`${definition.id}: include_top classifier and no-top feature map`, async () => {
      const inputShape = smallShape(definition.minInputSize);
      const x = randomInput([2, ...inputShape], 17, definition.preprocess === 'none' ? 0 : -1, definition.preprocess === 'none' ? 255 : 1);
      const top = definition.build({ includeTop: true, weights: null, inputShape, classes: 7 });
      randomizeWeights(top, 5);
      await assertOnnxMatchesTfjs(top, x, `${definition.id} top`);
      tf.dispose(top.weights.map((w) => w.read()));
      const features = definition.build({ includeTop: false, weights: null, inputShape, pooling: null });
      randomizeWeights(features, 6);
      await assertOnnxMatchesTfjs(features, x, `${definition.id} features`);
      tf.dispose(features.weights.map((w) => w.read()));
      x.dispose();
    });
  }
});
