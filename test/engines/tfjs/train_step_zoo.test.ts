// A training step of every zoo backbone on wasm with every layer trainable, at the smallest input size
// it accepts: the loss is finite, every trainable weight moves, and a second step holds no more tensors
// than the first (tfjs-layers itself keeps one tensor per compiled model, on cpu too, so the count is
// taken between steps rather than around the model's life).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf, tfl, initEngine } from '../../../src/engines/tfjs/tf.js';
import { listBackbones } from '../../../src/models/zoo.js';

const BATCH = 2;
const CLASSES = 3;

function snapshot(weights: tfl.LayerVariable[]): Float32Array[] {
  return weights.map((w) => Float32Array.from(w.read().dataSync()));
}

describe('one training step of every zoo backbone on wasm', () => {
  before(async () => {
    assert.equal(await initEngine('wasm'), 'wasm');
  });

  it('the zoo is not empty', () => {
    assert.ok(listBackbones().length > 0);
  });

  for (const definition of listBackbones()) {
    it(`${definition.id} at ${definition.minInputSize}x${definition.minInputSize}`, async () => {
      const size = definition.minInputSize;
      const backbone = definition.build({ includeTop: false, weights: null, inputShape: [size, size, 3], pooling: 'avg' });
      const head = tfl.layers.dense({ units: CLASSES, activation: 'softmax' }).apply(backbone.outputs[0]) as tfl.SymbolicTensor;
      const model = tfl.model({ inputs: backbone.inputs, outputs: head });
      for (const layer of model.layers) layer.trainable = true;
      // EfficientNet's drop-connect drops whole blocks at random (unseeded tfjs noise): a dropped block takes
      // no gradient in that step, so the check that every weight moves would be a coin toss. Rate 0 here.
      for (const layer of model.layers) if (layer.getClassName() === 'Dropout' && /_drop$/.test(layer.name)) (layer as unknown as { rate: number }).rate = 0;
      const optimizer = tf.train.adam(1e-3);
      model.compile({ optimizer, loss: 'categoricalCrossentropy' });

      const x = tf.randomUniform([BATCH, size, size, 3], -1, 1, 'float32', 7);
      const y = tf.oneHot(tf.tensor1d([0, 2], 'int32'), CLASSES);
      const weightsBefore = snapshot(model.trainableWeights);
      assert.ok(weightsBefore.length > 0);
      const loss = (await model.trainOnBatch(x, y)) as number;
      assert.ok(Number.isFinite(loss), `loss ${loss}`);
      const weightsAfter = snapshot(model.trainableWeights);
      const unchanged = model.trainableWeights
        .filter((_, i) => weightsBefore[i].every((v, j) => v === weightsAfter[i][j]))
        .map((w) => w.name);
      // A BatchNormalization beta whose output reaches the loss only through linear layers into another
      // BatchNormalization in training mode has an exactly zero gradient (that BN removes any per-channel
      // shift), so Adam leaves it in place: MobileNetV2's last project_BN betas at 1x1 spatial size.
      const legitimatelyStill = unchanged.filter((name) => /(project_bn|project_BN)\/beta$/.test(name));
      assert.deepEqual(
        unchanged.filter((name) => !legitimatelyStill.includes(name)),
        [],
        'weights the step did not move',
      );
      assert.ok(legitimatelyStill.length <= 0.05 * weightsBefore.length, `too many still betas: ${legitimatelyStill.join(', ')}`);

      const tensorsAfterFirstStep = tf.memory().numTensors;
      const secondLoss = (await model.trainOnBatch(x, y)) as number;
      assert.ok(Number.isFinite(secondLoss), `second loss ${secondLoss}`);
      assert.equal(tf.memory().numTensors, tensorsAfterFirstStep, 'tensors added by a training step');

      tf.dispose([x, y]);
      model.dispose();
      optimizer.dispose();
    });
  }
});
