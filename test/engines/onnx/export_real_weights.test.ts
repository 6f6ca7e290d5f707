// Trained weights, not just random ones: the offline nsfwjs backbones (Keras-trained MobileNetV2 at 224
// and InceptionV3 at 299) exported to ONNX agree with tfjs within 1e-4 at their native input sizes.
import { before, test } from 'node:test';
import { initEngine, tf } from '../../../src/engines/tfjs/tf.js';
import { getBackbone } from '../../../src/models/zoo.js';
import { loadOfflineWeights } from '../../../src/weights/offline.js';
import { assertOnnxMatchesTfjs, randomInput } from './parity.js';

before(async () => {
  await initEngine();
});

for (const [id, size, batch] of [['mobilenet_v2', 224, 2], ['inception_v3', 299, 1]] as const) {
  test(`${id} with nsfwjs weights at ${size}: onnxruntime equals tfjs (pooled features)`, async () => {
    const backbone = getBackbone(id).build({ includeTop: false, weights: null, inputShape: [size, size, 3], pooling: 'avg' });
    loadOfflineWeights(backbone, 'nsfwjs', id);
    // nsfwjs inputs are x/255: images in [0, 1].
    const x = randomInput([batch, size, size, 3], 3, 0, 1);
    await assertOnnxMatchesTfjs(backbone, x, `${id} nsfwjs`);
    tf.dispose([x, ...backbone.weights.map((w) => w.read())]);
  });
}
