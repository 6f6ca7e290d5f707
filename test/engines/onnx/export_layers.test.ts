// Per layer type: onnxruntime-node running tlkit's ONNX export agrees with tfjs within 1e-4, on small
// random models with non-square, odd-sized inputs, strides 2 with 'same' padding and real BN statistics.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, tfl } from '../../../src/engines/tfjs/tf.js';
import { exportOnnx } from '../../../src/engines/onnx/export.js';
import { createOnnxRunner } from '../../../src/engines/onnx/session.js';
import { Normalization } from '../../../src/models/layers/normalization.js';
import { TlkitError, UsageError } from '../../../src/core/errors.js';
import { assertOnnxMatchesTfjs, randomInput, randomizeWeights } from './parity.js';

type ST = tfl.SymbolicTensor;
const L = tfl.layers;

before(async () => {
  await initEngine();
});

/** Builds input -> f(input) with seeded weights and checks parity on a batch of 2. */
async function check(what: string, inputShape: number[], body: (x: ST) => ST | ST[], seed = 3): Promise<void> {
  const input = tfl.input({ shape: inputShape });
  const model = tfl.model({ inputs: input, outputs: body(input) });
  randomizeWeights(model, seed);
  const x = randomInput([2, ...inputShape], seed + 1);
  await assertOnnxMatchesTfjs(model, x, what);
  x.dispose();
}

const apply = (layer: tfl.layers.Layer, x: ST | ST[]): ST => layer.apply(x) as ST;

describe('ONNX export: convolutions', () => {
  test('Conv2D: strides 2, same padding, odd non-square input (TF pads the odd pixel at the end)', async () => {
    await check('conv s2 same', [11, 8, 3], (x) => apply(L.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same' }), x));
    await check('conv s2 same k4', [9, 6, 2], (x) => apply(L.conv2d({ filters: 3, kernelSize: 4, strides: 2, padding: 'same' }), x));
  });

  test('Conv2D: valid padding, non-square kernel, dilation, no bias, activations', async () => {
    await check('conv valid s2', [10, 7, 3], (x) => apply(L.conv2d({ filters: 4, kernelSize: [3, 2], strides: 2, padding: 'valid', activation: 'relu' }), x));
    await check('conv dilated', [12, 9, 3], (x) => apply(L.conv2d({ filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same', useBias: false, activation: 'relu6' }), x));
    await check('conv 1x1 swish', [5, 7, 6], (x) => apply(L.conv2d({ filters: 8, kernelSize: 1, activation: 'swish' }), x));
  });

  test('DepthwiseConv2D: strides 2 same, depth multiplier 2, valid', async () => {
    await check('depthwise s2', [11, 8, 4], (x) => apply(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same' }), x));
    await check('depthwise dm2', [9, 10, 3], (x) => apply(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'valid', useBias: false }), x));
    await check('depthwise 5x5 s2', [13, 9, 3], (x) => apply(L.depthwiseConv2d({ kernelSize: 5, strides: 2, padding: 'same', activation: 'relu' }), x));
  });

  test('SeparableConv2D: strides 2 same, with and without bias', async () => {
    await check('separable s2', [11, 8, 4], (x) => apply(L.separableConv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same' }), x));
    await check('separable dm2 nobias', [7, 9, 3], (x) => apply(L.separableConv2d({ filters: 5, kernelSize: 3, depthMultiplier: 2, padding: 'same', useBias: false }), x));
  });
});

describe('ONNX export: normalisation', () => {
  test('BatchNormalization after a conv, with center/scale off (InceptionV3 uses scale=False)', async () => {
    await check('bn', [7, 5, 4], (x) => apply(L.batchNormalization({ epsilon: 1.001e-5 }), apply(L.conv2d({ filters: 6, kernelSize: 3, padding: 'same' }), x)));
    await check('bn scale=false', [7, 5, 4], (x) => apply(L.batchNormalization({ scale: false }), x));
    await check('bn center=false', [7, 5, 4], (x) => apply(L.batchNormalization({ center: false }), x));
  });

  // (No tfjs reference for axis != -1: tfjs-layers 4.22 broadcasts the statistics of such a BN along the
  // last axis at inference, which is not what Keras computes.)
  test('BatchNormalization on a 2D input', async () => {
    await check('bn 2d', [6], (x) => apply(L.batchNormalization({}), apply(L.dense({ units: 5 }), x)));
  });

  test("tlkit's Normalization layer (EfficientNet) after Rescaling", async () => {
    await check('normalization', [7, 5, 3], (x) => apply(new Normalization({ name: 'normalization' }), apply(L.rescaling({ scale: 1 / 255 }), x)));
  });
});

describe('ONNX export: activations', () => {
  const names = ['relu', 'relu6', 'sigmoid', 'softmax', 'swish', 'tanh', 'linear', 'elu', 'selu', 'softplus', 'softsign', 'hardSigmoid', 'gelu', 'mish'] as const;
  test('Activation layer on 4D feature maps and on 2D vectors', async () => {
    for (const activation of names) {
      await check(`activation ${activation} 4d`, [3, 5, 4], (x) => apply(L.activation({ activation }), apply(L.conv2d({ filters: 4, kernelSize: 1 }), x)));
      await check(`activation ${activation} 2d`, [7], (x) => apply(L.activation({ activation }), x));
    }
  });

  test('ReLU (maxValue), LeakyReLU, ELU, Softmax layers', async () => {
    await check('ReLU', [5, 3, 2], (x) => apply(L.reLU({}), x));
    await check('ReLU max 6', [5, 3, 2], (x) => apply(L.reLU({ maxValue: 0.5 }), x));
    await check('LeakyReLU', [5, 3, 2], (x) => apply(L.leakyReLU({ alpha: 0.1 }), x));
    await check('ELU', [5, 3, 2], (x) => apply(L.elu({}), x));
    await check('Softmax layer', [5, 3, 4], (x) => apply(L.softmax({ axis: -1 }), apply(L.conv2d({ filters: 4, kernelSize: 1 }), x)));
  });
});

describe('ONNX export: merges', () => {
  test('Add and Multiply of feature maps, Multiply with a broadcast squeeze-excite gate', async () => {
    await check('add', [9, 6, 3], (x) => apply(L.add(), [apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), x), apply(L.conv2d({ filters: 4, kernelSize: 1 }), x)]));
    await check('se block', [9, 6, 4], (x) => {
      const squeezed = apply(L.globalAveragePooling2d({}), x);
      const reshaped = apply(L.reshape({ targetShape: [1, 1, 4] }), squeezed);
      const reduced = apply(L.conv2d({ filters: 2, kernelSize: 1, activation: 'swish' }), reshaped);
      const gate = apply(L.conv2d({ filters: 4, kernelSize: 1, activation: 'sigmoid' }), reduced);
      return apply(L.multiply(), [apply(L.conv2d({ filters: 4, kernelSize: 1 }), x), gate]);
    });
  });

  test('Concatenate on the channel axis (-1 -> ONNX axis 1), on the height axis, and on 2D', async () => {
    const branches = (x: ST): ST[] => [apply(L.conv2d({ filters: 3, kernelSize: 1 }), x), apply(L.conv2d({ filters: 5, kernelSize: 3, padding: 'same' }), x)];
    await check('concat channels', [7, 4, 2], (x) => apply(L.concatenate({ axis: -1 }), branches(x)));
    await check('concat height', [7, 4, 2], (x) => {
      const [a] = branches(x);
      return apply(L.concatenate({ axis: 1 }), [a, apply(L.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }), x)]);
    });
    await check('concat 2d', [6], (x) => apply(L.concatenate({}), [apply(L.dense({ units: 2 }), x), apply(L.dense({ units: 3 }), x)]));
  });
});

describe('ONNX export: padding and pooling', () => {
  test('ZeroPadding2D (asymmetric) then a valid strided conv, as in MobileNet/ResNet stems', async () => {
    await check('zeropad', [9, 6, 3], (x) => apply(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'valid' }), apply(L.zeroPadding2d({ padding: [[1, 2], [0, 1]] }), x)));
  });

  test('MaxPooling2D and AveragePooling2D: same padding stride 2 on odd sizes (TF averages real pixels only), valid', async () => {
    await check('maxpool same', [11, 8, 3], (x) => apply(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x));
    await check('maxpool valid', [11, 8, 3], (x) => apply(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid' }), x));
    await check('avgpool same', [11, 8, 3], (x) => apply(L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x));
    await check('avgpool same s1', [7, 5, 3], (x) => apply(L.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }), x));
    await check('avgpool valid', [11, 8, 3], (x) => apply(L.averagePooling2d({ poolSize: 2, padding: 'valid' }), x));
  });

  test('GlobalAveragePooling2D and GlobalMaxPooling2D', async () => {
    await check('gap', [7, 5, 4], (x) => apply(L.globalAveragePooling2d({}), x));
    await check('gmp', [7, 5, 4], (x) => apply(L.globalMaxPooling2d({}), x));
  });
});

describe('ONNX export: dense and reshaping', () => {
  test('Flatten keeps Keras (HWC) order: the head of the reference experiment on a non-square map', async () => {
    await check('flatten head', [7, 5, 3], (x) => {
      let y = apply(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same' }), x);
      y = apply(L.flatten(), y);
      y = apply(L.dense({ units: 16, activation: 'relu' }), y);
      y = apply(L.dropout({ rate: 0.25 }), y);
      return apply(L.dense({ units: 2, activation: 'softmax' }), y);
    });
  });

  test('Flatten output is exactly the NHWC flattening (no tolerance needed)', async () => {
    const input = tfl.input({ shape: [3, 2, 4] });
    const model = tfl.model({ inputs: input, outputs: apply(L.flatten(), apply(L.conv2d({ filters: 4, kernelSize: 1, useBias: false }), input)) });
    model.layers[1].setWeights([tf.reshape(tf.eye(4), [1, 1, 4, 4])]);
    const x = tf.reshape(tf.range(0, 24), [1, 3, 2, 4]);
    const runner = await createOnnxRunner(await exportOnnx(model));
    const y = await runner.run(x);
    assert.deepEqual(Array.from(y.dataSync()), Array.from(x.dataSync()));
    await runner.dispose();
  });

  test('Reshape, Permute, Dense on a 4D input, Rescaling with offset', async () => {
    await check('reshape', [4, 3, 2], (x) => apply(L.reshape({ targetShape: [12, 4] }), apply(L.conv2d({ filters: 4, kernelSize: 1 }), x)));
    await check('reshape back to 4d', [6], (x) => apply(L.conv2d({ filters: 2, kernelSize: 1 }), apply(L.reshape({ targetShape: [1, 2, 3] }), x)));
    await check('permute', [4, 3, 2], (x) => apply(L.permute({ dims: [3, 1, 2] }), x));
    await check('dense 4d', [4, 3, 2], (x) => apply(L.dense({ units: 3, activation: 'tanh' }), apply(L.conv2d({ filters: 4, kernelSize: 1 }), x)));
    await check('rescaling', [4, 3, 2], (x) => apply(L.conv2d({ filters: 2, kernelSize: 3, padding: 'same' }), apply(L.rescaling({ scale: 1 / 127.5, offset: -1 }), x)));
  });
});

describe('ONNX export: graphs', () => {
  function nested(): { backbone: tfl.LayersModel; model: tfl.LayersModel } {
    const bIn = tfl.input({ shape: [9, 7, 3] });
    let b = apply(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'stem' }), bIn);
    b = apply(L.batchNormalization({ name: 'stem_bn' }), b);
    b = apply(L.reLU({ maxValue: 6, name: 'stem_relu' }), b);
    const backbone = tfl.model({ inputs: bIn, outputs: b, name: 'inner' });
    const input = tfl.input({ shape: [9, 7, 3] });
    let y = apply(backbone, input);
    y = apply(L.globalAveragePooling2d({ name: 'pool' }), y);
    y = apply(L.dense({ units: 3, activation: 'softmax', name: 'classifier' }), y);
    const model = tfl.model({ inputs: input, outputs: y });
    randomizeWeights(backbone, 11);
    randomizeWeights(model, 12);
    return { backbone, model };
  }

  test('a backbone nested as one layer is inlined; upToLayer reaches inside it', async () => {
    const { backbone, model } = nested();
    const x = randomInput([3, 9, 7, 3], 5);
    await assertOnnxMatchesTfjs(model, x, 'nested');
    const prefix = tfl.model({ inputs: backbone.inputs, outputs: backbone.getLayer('stem_bn').output as ST });
    const runner = await createOnnxRunner(await exportOnnx(model, { upToLayer: 'stem_bn' }));
    const got = await runner.run(x);
    const want = prefix.predict(x) as tf.Tensor;
    assert.deepEqual(got.shape, [3, 5, 4, 4]);
    assert.ok(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0] < 1e-4);
    await runner.dispose();
  });

  test('fixed batch size; the graph rejects other batch sizes', async () => {
    const { model } = nested();
    const bytes = await exportOnnx(model, { batchSize: 3 });
    await assertOnnxMatchesTfjs(model, randomInput([3, 9, 7, 3], 9), 'batch 3', { batchSize: 3 });
    for (const worker of [false, true]) {
      // maxRunBatch 1 must not slice a fixed-batch graph's batches.
      const runner = await createOnnxRunner(bytes, { worker, maxRunBatch: 1 });
      const x = randomInput([3, 9, 7, 3], 9);
      assert.deepEqual((await runner.run(x)).shape, [3, 3]);
      await assert.rejects(runner.run(randomInput([2, 9, 7, 3])));
      await runner.dispose();
    }
  });

  test('unsupported layers name the layer, its class and the supported classes', async () => {
    const input = tfl.input({ shape: [4, 4, 2] });
    const model = tfl.model({ inputs: input, outputs: apply(L.upSampling2d({ name: 'up' }), input) });
    await assert.rejects(exportOnnx(model), (error: Error) => {
      assert.ok(error instanceof TlkitError);
      assert.match(error.message, /'up' \(UpSampling2D\)/);
      assert.match(error.message, /Supported classes: .*Conv2D.*DepthwiseConv2D/);
      return true;
    });
  });

  test('bad options are UsageErrors naming the option', async () => {
    const { model } = nested();
    await assert.rejects(exportOnnx(model, { upToLayer: 'nope' }), (e: Error) => e instanceof UsageError && /upToLayer.*"nope"/.test(e.message));
    await assert.rejects(exportOnnx(model, { batchSize: 0 }), (e: Error) => e instanceof UsageError && /batchSize=0/.test(e.message));
    await assert.rejects(exportOnnx(model, { opset: 11 }), (e: Error) => e instanceof UsageError && /opset=11/.test(e.message));
  });
});
