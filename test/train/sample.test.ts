// The embedded sample (samples/fashion-shoes: Fashion-MNIST sandals vs sneakers, 200 + 200 training
// and 100 + 100 test images) with the offline pretrained weights (nsfwjs's Keras MobileNetV2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainRun } from '../../src/train/run/run.js';

const sample = fileURLToPath(new URL('../../samples/fashion-shoes/', import.meta.url));

test('the embedded sample, head trained on the frozen offline MobileNetV2 (96 px, 5 epochs): test accuracy >= 0.88', { timeout: 180_000 }, async () => {
  const outDir = await fs.mkdtemp(join(tmpdir(), 'tlkit-sample-'));
  const result = await trainRun({
    dataDir: join(sample, 'train'),
    valDir: join(sample, 'test'),
    backbone: 'mobilenet_v2',
    weights: 'nsfwjs',
    inputSize: 96,
    classMode: 'sparse',
    freezeBackbone: true,
    epochs: 5,
    batchSize: 32,
    learningRate: 0.003,
    seed: 1,
    outDir,
  });
  assert.deepEqual(result.classNames, ['sandal', 'sneaker']);
  assert.equal(result.evaluation!.samples, 200);
  // Measured here: 0.91 (chance is 0.5; the frozen features come from a model never trained on shoes).
  assert.ok(result.evaluation!.accuracy >= 0.88, `test accuracy ${result.evaluation!.accuracy}`);
  assert.equal(result.engine, 'onnx-frozen');
  assert.ok(result.history.at(-1)!.loss < result.history[0].loss);
});
