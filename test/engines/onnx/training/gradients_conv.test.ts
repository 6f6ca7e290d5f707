// Steps 2-3: convolutions (stride 1/2, same/valid, 1x1 and k x k), BatchNormalization in training and
// frozen mode, ReLU6/swish, Add, Multiply (broadcast), Concatenate, ZeroPadding2D, pooling,
// DepthwiseConv2D and SeparableConv2D: the compiled graph's gradients equal tfjs's (cpu) within 1e-4,
// for every gradient form.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, tfl } from '../../../../src/engines/tfjs/tf.js';
// Keras semantics for frozen BatchNormalization (inference mode), as tlkit's models install them.
import '../../../../src/models/batchnorm.js';
import { setGradientForms, type GradientForms } from '../../../../src/engines/onnx/training/conv_gradients.js';
import { buildTrainingGraph } from '../../../../src/engines/onnx/training/training_graph.js';
import { onnx } from '../../../../src/engines/onnx/graph_builder.js';
import { assertGradientsMatch, labelsFor, randomizeWeights, randomTensor } from './helpers.js';

const L = tfl.layers;
type ST = tfl.SymbolicTensor;
const apply = (layer: tfl.layers.Layer, x: ST | ST[]): ST => layer.apply(x) as ST;

let saved: GradientForms;
before(async () => {
  await initEngine();
  await tf.setBackend('cpu');
  saved = setGradientForms({});
});
after(() => {
  setGradientForms(saved);
});

/** input -> body -> GAP -> Dense(3, softmax); sparse labels; batch 3. */
async function check(inputShape: number[], body: (x: ST) => ST, seed: number, prepare?: (m: tfl.LayersModel) => void): Promise<void> {
  const input = tfl.input({ shape: inputShape });
  const features = body(input);
  const pooled = features.shape.length === 4 ? apply(L.globalAveragePooling2d({}), features) : features;
  const m = tfl.model({ inputs: input, outputs: apply(L.dense({ units: 3, activation: 'softmax' }), pooled) });
  randomizeWeights(m, seed);
  prepare?.(m);
  await assertGradientsMatch(m, randomTensor([3, ...inputShape], seed + 1), labelsFor('sparse_categorical_crossentropy', 3, 3, seed + 2), 'sparse_categorical_crossentropy');
}

const FORMS: Partial<GradientForms>[] = [
  { convInputGrad: 'flipped-conv', depthwiseInputGrad: 'flipped-conv', depthwiseFilterGrad: 'grouped-conv', convFilterGrad: 'transposed-conv' },
  // 'auto': the NCHWc depthwise filter gradient wherever batch * channels fits its block (the 16-channel case below).
  { convInputGrad: 'auto', depthwiseInputGrad: 'auto', depthwiseFilterGrad: 'auto', convFilterGrad: 'auto' },
  { convInputGrad: 'conv-transpose', depthwiseInputGrad: 'conv-transpose', depthwiseFilterGrad: 'shifted-mul', convFilterGrad: 'shifted-matmul' },
];

for (const forms of FORMS) {
  describe(`compiled training step: convolution gradients match tfjs (${JSON.stringify(forms)})`, () => {
    before(() => {
      setGradientForms(forms);
    });

    test('Conv2D: k3 s1 same, k3 s2 same (odd size), k3 s2 valid, k2 s2 valid, 1x1 s1 and s2, relu/relu6/swish', async () => {
      // Each conv takes a gradient from the next one, so input gradients are checked too.
      await check([9, 7, 3], (x) => {
        let h = apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }), x);
        h = apply(L.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6' }), h);
        h = apply(L.conv2d({ filters: 4, kernelSize: 1, activation: 'swish' }), h);
        return apply(L.conv2d({ filters: 3, kernelSize: 1, strides: 2, useBias: false }), h);
      }, 20);
      await check([10, 8, 2], (x) => {
        let h = apply(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'valid' }), x);
        h = apply(L.conv2d({ filters: 3, kernelSize: [2, 3], strides: 2, padding: 'valid', activation: 'relu' }), h);
        return h;
      }, 23);
      await check([8, 8, 2], (x) => apply(L.conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same' }), apply(L.conv2d({ filters: 4, kernelSize: 4, strides: 2, padding: 'same' }), x)), 26);
      // 16 -> 16 channels, k3 stride 2 then stride 1 (ResNet-like widths).
      await check([9, 7, 3], (x) => apply(L.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }), apply(L.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same' }), apply(L.conv2d({ filters: 16, kernelSize: 1 }), x))), 45);
      // Maps of >= 256 pixels and >= 16 input channels take the batched-MatMul filter-gradient forms.
      await check([20, 16, 2], (x) => apply(L.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }), apply(L.conv2d({ filters: 16, kernelSize: 1, activation: 'relu' }), x)), 29);
    });

    test('DepthwiseConv2D s1/s2 same/valid, depth multiplier 2; SeparableConv2D', async () => {
      await check([9, 8, 3], (x) => {
        let h = apply(L.conv2d({ filters: 4, kernelSize: 1 }), x);
        h = apply(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6' }), h);
        h = apply(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same' }), h);
        h = apply(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false }), h);
        return h;
      }, 30);
      await check([7, 9, 2], (x) => apply(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }), apply(L.conv2d({ filters: 3, kernelSize: 1 }), x)), 33);
      await check([9, 7, 3], (x) => {
        const h = apply(L.conv2d({ filters: 4, kernelSize: 1 }), x);
        return apply(L.separableConv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }), h);
      }, 36);
      await check([8, 6, 3], (x) => apply(L.depthwiseConv2d({ kernelSize: 5, strides: 2, padding: 'same' }), apply(L.conv2d({ filters: 4, kernelSize: 1 }), x)), 39);
      // 16 channels x batch 3: N*C = 48 fits the NCHWc blocks (8 or 16), stride 1 and 2, odd sizes.
      await check([11, 9, 3], (x) => {
        let h = apply(L.conv2d({ filters: 16, kernelSize: 1 }), x);
        h = apply(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6' }), h);
        return apply(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same' }), h);
      }, 42);
    });
  });
}

describe('compiled training step: normalisation, merges, padding, pooling match tfjs', () => {
  test('BatchNormalization in training mode (batch statistics, moving averages) after conv and dense', async () => {
    await check([6, 5, 3], (x) => {
      let h = apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }), x);
      h = apply(L.batchNormalization({ momentum: 0.9, epsilon: 1e-3 }), h);
      h = apply(L.reLU({ maxValue: 6 }), h);
      h = apply(L.conv2d({ filters: 4, kernelSize: 1 }), h);
      return apply(L.batchNormalization({ momentum: 0.999, epsilon: 1.001e-5 }), h);
    }, 40);
    await check([5], (x) => apply(L.batchNormalization({}), apply(L.dense({ units: 6, activation: 'relu' }), x)), 43);
  });

  test('frozen BatchNormalization runs in inference mode (moving statistics, no update)', async () => {
    await check(
      [6, 5, 3],
      (x) => apply(L.batchNormalization({ name: 'frozen_bn' }), apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), x)),
      46,
      (m) => {
        m.getLayer('frozen_bn').trainable = false;
      },
    );
  });

  test('frozen BatchNormalization folded into the convolution before it: same gradients as unfolded, no BatchNorm pass left', async () => {
    // Conv2D with bias + BN; depthwise without bias + BN without gamma; 1x1 conv + BN without beta; a BN
    // that cannot fold (after an activation) stays a layer of its own.
    const body = (x: ST): ST => {
      let h = apply(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same' }), x);
      h = apply(L.batchNormalization({ name: 'bn_conv', epsilon: 1e-3 }), h);
      h = apply(L.reLU({ maxValue: 6 }), h);
      h = apply(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }), h);
      h = apply(L.batchNormalization({ name: 'bn_dw', scale: false, epsilon: 1.001e-5 }), h);
      h = apply(L.conv2d({ filters: 16, kernelSize: 1, activation: 'relu' }), h);
      h = apply(L.batchNormalization({ name: 'bn_after_relu' }), h);
      h = apply(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }), h);
      return apply(L.batchNormalization({ name: 'bn_dw16', center: false }), h);
    };
    const freeze = (m: tfl.LayersModel): void => {
      for (const name of ['bn_conv', 'bn_dw', 'bn_after_relu', 'bn_dw16']) m.getLayer(name).trainable = false;
    };
    const previous = setGradientForms({});
    try {
      for (const fold of ['auto', 'off'] as const) {
        setGradientForms({ foldFrozenBatchNorm: fold });
        await check([9, 7, 3], body, 48, (m) => {
          freeze(m);
          const graph = buildTrainingGraph(m, { batchSize: 3, loss: 'sparse_categorical_crossentropy', optimizer: 'gradients' });
          const norms = onnx.ModelProto.decode(graph.modelBytes).graph!.node!.filter((n) => n.opType === 'BatchNormalization' && !n.output![0].includes('_dx'));
          assert.equal(norms.length, fold === 'auto' ? 1 : 4, `BatchNormalization nodes with folding ${fold}: ${norms.map((n) => n.name).join(', ')}`);
        });
      }
    } finally {
      setGradientForms(previous);
    }
  });

  test('Add, Multiply with a broadcast [N,1,1,C] gate (squeeze-excite), Concatenate, ZeroPadding2D', async () => {
    await check([7, 6, 3], (x) => {
      const a = apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), x);
      const b = apply(L.conv2d({ filters: 4, kernelSize: 1, activation: 'relu' }), x);
      const sum = apply(L.add(), [a, b]);
      const squeezed = apply(L.reshape({ targetShape: [1, 1, 4] }), apply(L.globalAveragePooling2d({}), sum));
      const gate = apply(L.conv2d({ filters: 4, kernelSize: 1, activation: 'sigmoid' }), squeezed);
      const gated = apply(L.multiply(), [sum, gate]);
      const cat = apply(L.concatenate({ axis: -1 }), [gated, b]);
      const padded = apply(L.zeroPadding2d({ padding: [[1, 0], [0, 2]] }), cat);
      return apply(L.conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'valid' }), padded);
    }, 50);
  });

  test('MaxPooling2D (same/valid) and AveragePooling2D (same/valid), overlapping windows, GlobalMaxPooling2D', async () => {
    await check([9, 7, 2], (x) => {
      let h = apply(L.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }), x);
      h = apply(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), h);
      h = apply(L.conv2d({ filters: 3, kernelSize: 1 }), h);
      // 'same' (InceptionV3's branch_pool): tlkit's AvgPool gradient for tfjs (avg_pool_gradient.ts)
      // divides border windows by their real pixel count, as TF and the compiled graph do.
      h = apply(L.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }), h);
      return apply(L.averagePooling2d({ poolSize: 3, strides: 1, padding: 'valid' }), h);
    }, 60);
    await check([8, 6, 2], (x) => {
      let h = apply(L.conv2d({ filters: 3, kernelSize: 1 }), x);
      h = apply(L.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid' }), h);
      return apply(L.averagePooling2d({ poolSize: 2, padding: 'valid' }), apply(L.conv2d({ filters: 3, kernelSize: 1 }), h));
    }, 63);
    await check([6, 5, 2], (x) => apply(L.globalMaxPooling2d({}), apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), x)), 66);
  });
});
