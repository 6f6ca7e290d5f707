// A compare result shaped like the reference experiment's, for report tests.
import type { CompareResult } from '../../src/compare/types.js';

export function sampleResult(): CompareResult {
  const base = {
    ok: true as const,
    classNames: ['cats', 'dogs'],
    engine: 'tfjs',
    weightsSource: 'imagenet',
    epochs: 2,
    valLoss: 0.05,
    phaseSeconds: { build: 1, 'train-head': 100, 'fine-tune': 150, evaluate: 14 },
    history: [
      { epoch: 1, phase: 'head', loss: 0.6, accuracy: 0.7, valLoss: 0.4, valAccuracy: 0.85 },
      { epoch: 2, phase: 'fine-tune', loss: 0.2, accuracy: 0.95, valLoss: 0.1, valAccuracy: 0.97 },
    ],
  };
  return {
    dataset: 'cats_and_dogs',
    heldOutDir: 'cats_and_dogs/test',
    outDir: 'runs/cmp',
    startedAt: '2026-11-27T12:00:00Z',
    elapsedSeconds: 1100,
    rule: 'accuracy within 0.010 of the best, then the fastest',
    config: { epochs: 2 },
    rows: [
      { ...base, id: 'mobilenet', totalParams: 4031730, trainableParams: 4009842, nonTrainableParams: 21888, elapsedSeconds: 265, accuracy: 0.984, trainAccuracy: 0.99, confusionMatrix: [[49, 1], [1, 49]], misclassified: [{ file: 'cats/1.jpg', index: 0, trueClass: 'cats', predictedClass: 'dogs', probability: 0.7 }] },
      { ...base, id: 'resnet50', totalParams: 25193394, trainableParams: 25140274, nonTrainableParams: 53120, elapsedSeconds: 568, accuracy: 0.99, trainAccuracy: 1, confusionMatrix: [[50, 0], [1, 49]], misclassified: [] },
      { ok: false, id: 'xception', error: 'weights missing: xception_weights_tf_dim_ordering_tf_kernels_notop.h5' },
    ],
    recommendation: { id: 'mobilenet', reason: 'mobilenet: accuracy 0.984, within 0.010 of the best (0.990, resnet50) and 2.1x faster than the most accurate' },
  };
}
