// The layer tables (src/engines/onnx/layers/): one forward per class, shared by export and training,
// and the public registerOnnxConverter as the way to teach the exporter a layer of one's own.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tfl } from '../../../src/engines/tfjs/tf.js';
import { registerOnnxConverter } from '../../../src/index.js';
import { getLayerTable, registerLayerTable, supportedLayerClasses, trainableLayerClasses } from '../../../src/engines/onnx/layers/index.js';
import { canCompileTrainingStep } from '../../../src/engines/onnx/training/compile_training_step.js';
import { onnx } from '../../../src/engines/onnx/graph_builder.js';
import { exportOnnx } from '../../../src/engines/onnx/export.js';
import { buildTrainingGraph } from '../../../src/engines/onnx/training/training_graph.js';
import { assertOnnxMatchesTfjs, randomInput, randomizeWeights } from './parity.js';

type ST = tfl.SymbolicTensor;
const L = tfl.layers;

before(async () => {
  await initEngine();
});

function upsamplingModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [5, 4, 3] });
  const conv = L.conv2d({ filters: 2, kernelSize: 3, padding: 'same', name: 'conv' }).apply(input) as ST;
  const up = L.upSampling2d({ size: [2, 2], name: 'up' }).apply(conv) as ST;
  const pooled = L.globalAveragePooling2d({}).apply(up) as ST;
  const output = L.dense({ units: 3, activation: 'softmax' }).apply(pooled) as ST;
  const model = tfl.model({ inputs: input, outputs: output });
  randomizeWeights(model, 4);
  return model;
}

describe('ONNX layer tables', () => {
  test('every class the training graph differentiates is also exported', () => {
    const exported = new Set(supportedLayerClasses());
    for (const className of trainableLayerClasses()) assert.ok(exported.has(className), className);
    for (const className of ['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'BatchNormalization', 'Dense', 'Add', 'Multiply', 'Concatenate', 'ZeroPadding2D', 'MaxPooling2D', 'GlobalAveragePooling2D', 'Rescaling', 'Normalization', 'Dropout', 'Activation', 'ReLU', 'Softmax']) {
      assert.ok(getLayerTable(className)?.gradient, `${className} has a gradient rule`);
    }
  });

  test('the training graph emits the same forward as the export (Conv2D -> BatchNorm -> ReLU -> pool -> Dense)', async () => {
    const input = tfl.input({ shape: [6, 5, 3] });
    let h = L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6', name: 'c' }).apply(input) as ST;
    h = L.batchNormalization({ name: 'bn' }).apply(h) as ST;
    h = L.reLU({ name: 'r' }).apply(h) as ST;
    h = L.globalAveragePooling2d({ name: 'gap' }).apply(h) as ST;
    const output = L.dense({ units: 3, activation: 'softmax', name: 'd' }).apply(h) as ST;
    const model = tfl.model({ inputs: input, outputs: output });
    // Frozen: every layer runs its inference forward in the training graph too (BatchNorm on its moving statistics).
    for (const layer of model.layers) layer.trainable = false;
    model.layers[model.layers.length - 1].trainable = true;
    randomizeWeights(model, 2);
    // A node as op type and attributes (names differ: the graph input is 'x' there, and the export reserves its output's name).
    const signature = (n: { opType?: string | null; attribute?: { name?: string | null; i?: unknown; ints?: unknown; f?: number | null }[] | null }): string =>
      `${n.opType} ${JSON.stringify((n.attribute ?? []).map((a) => [a.name, a.i, a.ints, a.f]))}`;
    const exported = onnx.ModelProto.decode(await exportOnnx(model)).graph!.node!.map(signature);
    const training = onnx.ModelProto.decode(buildTrainingGraph(model, { batchSize: 2, loss: 'categorical_crossentropy', optimizer: 'gradients' }).modelBytes).graph!.node!.map(signature);
    // The export ends with an Identity naming the output; the training graph goes on with the loss and the backward.
    // Every export node appears in the training graph in the same order (the frozen BatchNorm's rule adds
    // the [C] scale its backward uses between them).
    const forward = exported.slice(0, -1);
    let matched = 0;
    for (const node of training) if (matched < forward.length && node === forward[matched]) matched++;
    assert.equal(matched, forward.length, `${forward[matched]} (export node ${matched}) not found in order in the training graph`);
    assert.deepEqual(forward.map((n) => n.split(' ')[0]), ['Transpose', 'Conv', 'Clip', 'BatchNormalization', 'Relu', 'GlobalAveragePool', 'Flatten', 'Gemm', 'Softmax']);
  });

  test('registerOnnxConverter teaches the exporter a layer class; the compiled step refuses it by name', async () => {
    const model = upsamplingModel();
    await assert.rejects(exportOnnx(model), /'up' \(UpSampling2D\)/);
    // Nearest-neighbour upsampling as ONNX Resize, channels-first like the convolution before it.
    registerOnnxConverter('UpSampling2D', ({ builder, layer, config, inputs, outputShapes }) => {
      const x = builder.toLayout(inputs[0], 'nchw');
      const [sh, sw] = config.size as number[];
      const scales = builder.addFloatInitializer(`${layer.name}/scales`, Float32Array.from([1, 1, sh, sw]), [4]);
      const [name] = builder.node('Resize', [x.name, '', scales], layer.name, { mode: 'nearest', nearest_mode: 'floor', coordinate_transformation_mode: 'asymmetric' });
      return [{ name, shape: outputShapes[0], layout: 'nchw' }];
    });
    assert.ok(supportedLayerClasses().includes('UpSampling2D'));
    await assertOnnxMatchesTfjs(model, randomInput([2, 5, 4, 3], 5), 'custom UpSampling2D converter');
    const verdict = canCompileTrainingStep(model);
    assert.equal(verdict.ok, false);
    assert.match(verdict.reason!, /'up' \(UpSampling2D\) has no training rule/);
  });

  test('replacing the export converter of a built-in class keeps its gradient rule', async () => {
    const original = getLayerTable('Dense')!;
    try {
      registerOnnxConverter('Dense', () => {
        throw new Error('custom Dense converter called');
      });
      assert.equal(getLayerTable('Dense')!.gradient, original.gradient);
      assert.ok(trainableLayerClasses().includes('Dense'));
      const input = tfl.input({ shape: [4] });
      const model = tfl.model({ inputs: input, outputs: L.dense({ units: 2, activation: 'softmax' }).apply(input) as ST });
      await assert.rejects(exportOnnx(model), /custom Dense converter called/);
      assert.deepEqual(canCompileTrainingStep(model), { ok: true });
    } finally {
      registerLayerTable(original);
    }
  });
});
