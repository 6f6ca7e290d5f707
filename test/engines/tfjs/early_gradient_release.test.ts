// Releasing intermediate gradients early must not change any gradient: the same model's variable
// gradients with the release on and off, bit for bit, on a graph with the cases that could go wrong
// (residual Add and Concatenate, where a gradient is handed on to two tensors; a multi-output Split).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf, tfl, initEngine } from '../../../src/engines/tfjs/tf.js';
import { releasedGradientCount, setEarlyGradientRelease } from '../../../src/engines/tfjs/early_gradient_release.js';

function buildModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 4] });
  const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: 'glorotUniform' }).apply(input) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization({}).apply(conv) as tfl.SymbolicTensor;
  const act = tfl.layers.reLU({ maxValue: 6 }).apply(bn) as tfl.SymbolicTensor;
  const dw = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(act) as tfl.SymbolicTensor;
  const residual = tfl.layers.add().apply([dw, input]) as tfl.SymbolicTensor;
  const joined = tfl.layers.concatenate().apply([residual, act, residual]) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(joined) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(pooled) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

describe('early gradient release', () => {
  before(async () => {
    assert.equal(await initEngine('wasm'), 'wasm');
  });

  it('gives the same variable gradients as tfjs without it, and leaves no tensors behind', () => {
    const model = buildModel();
    const x = tf.randomNormal([3, 8, 8, 4], 0, 1, 'float32', 3);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2], 'int32'), 3);
    const lossOf = () =>
      tf.tidy(() => {
        const pred = model.apply(x, { training: true }) as tf.Tensor;
        const [a, b] = tf.split(pred, [1, 2], 1); // a multi-output op on the path
        return tf.losses.softmaxCrossEntropy(y, tf.concat([a, b], 1)) as tf.Scalar;
      });
    const run = (release: boolean) => {
      const previous = setEarlyGradientRelease(release);
      try {
        const before = tf.memory().numTensors;
        const { value, grads } = tf.variableGrads(lossOf, model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val));
        const out = Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, Array.from(g.dataSync())]));
        tf.dispose([value, ...Object.values(grads)]);
        assert.equal(tf.memory().numTensors, before, `tensors left (release ${release})`);
        return out;
      } finally {
        setEarlyGradientRelease(previous);
      }
    };
    const releasedBefore = releasedGradientCount();
    const withRelease = run(true);
    assert.ok(releasedGradientCount() - releasedBefore > 10, 'the release disposed gradients during the pass');
    const releasedMid = releasedGradientCount();
    const without = run(false);
    assert.equal(releasedGradientCount(), releasedMid);
    assert.ok(Object.keys(without).length >= 8);
    assert.deepEqual(withRelease, without);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('keeps a dy passed by the caller', () => {
    const x = tf.tensor([1, 2, 3]);
    const dy = tf.tensor([1, 1, 1]);
    const g = tf.grad((a: tf.Tensor) => tf.relu(tf.mul(a, 2)))(x, dy);
    assert.deepEqual(Array.from(g.dataSync()), [2, 2, 2]);
    assert.equal(dy.isDisposed, false);
    tf.dispose([x, dy, g]);
  });
});
