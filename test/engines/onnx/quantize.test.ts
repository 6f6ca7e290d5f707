// quantizeOnnx on small exported Keras graphs: the float rewrites are exact, the result holds int8
// weights and QDQ pairs, onnxruntime fuses it into integer kernels (QLinearConv, QLinearAdd), and its
// outputs stay close to float32's.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tfl, initEngine, tf } from '../../../src/engines/tfjs/tf.js';
import { exportOnnx } from '../../../src/engines/onnx/export.js';
import { onnx } from '../../../src/engines/onnx/graph_builder.js';
import { activationParams, initializerTypes, quantizeOnnx, type CalibrationBatch } from '../../../src/engines/onnx/quantize.js';
import { percentileRange } from '../../../src/engines/onnx/quantize_calibration.js';
import { prepareForQuantization } from '../../../src/engines/onnx/quantize_prepare.js';
import { decodeModel, EditableGraph } from '../../../src/engines/onnx/onnx_graph.js';
import { createOnnxRunner } from '../../../src/engines/onnx/session.js';
import { UsageError } from '../../../src/core/errors.js';

const SIZE = 24;

/** Conv-BN-ReLU6, a zero-padded strided depthwise conv, a residual Add, a max pool, GAP and a Dense head. */
function smallNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [SIZE, SIZE, 3], name: 'image' });
  let x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'conv_a' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn_a' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ maxValue: 6, name: 'relu_a' }).apply(x) as tfl.SymbolicTensor;
  let y = tfl.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'pad_b' }).apply(x) as tfl.SymbolicTensor;
  y = tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: 1, padding: 'valid', useBias: false, name: 'dw_b' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.batchNormalization({ name: 'bn_b' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({ filters: 8, kernelSize: 1, name: 'project_b' }).apply(y) as tfl.SymbolicTensor;
  // 'same'-sized after the pad + valid 3x3 at stride 1 would be SIZE-1: crop back with a max pool instead.
  x = tfl.layers.conv2d({ filters: 8, kernelSize: 2, padding: 'valid', name: 'shortcut' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.add({ name: 'add' }).apply([x, y]) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 4, activation: 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'small' });
}

let floatBytes: Uint8Array;
let calibration: CalibrationBatch[];

function images(count: number, seed: number): Float32Array {
  // Smooth patterns plus noise in [-1, 1], like preprocessed photos: not a constant, not pure noise.
  let s = seed >>> 0;
  const out = new Float32Array(count * SIZE * SIZE * 3);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    const pixel = Math.floor(i / 3) % (SIZE * SIZE);
    const image = Math.floor(i / (3 * SIZE * SIZE));
    out[i] = 0.6 * Math.sin((pixel % SIZE) * 0.3 * (1 + (image % 3)) + (i % 3)) + 0.4 * ((s >>> 8) / 2 ** 23 - 1);
  }
  return out;
}

before(async () => {
  await initEngine();
  const model = smallNet();
  // BatchNorm statistics away from identity, so folding them is visible in the numbers.
  for (const w of model.weights) {
    const name = w.originalName;
    if (/moving_mean|beta/.test(name)) w.write(tf.randomUniform(w.shape as number[], -0.3, 0.3, 'float32', 3));
    if (/moving_variance|gamma/.test(name)) w.write(tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', 4));
  }
  floatBytes = await exportOnnx(model);
  model.dispose();
  calibration = [0, 1, 2, 3].map((i) => ({ data: images(8, 100 + i), shape: [8, SIZE, SIZE, 3] }));
});

async function outputs(bytes: Uint8Array, x: Float32Array, n: number, saveOptimizedModelTo?: string): Promise<Float32Array> {
  const runner = await createOnnxRunner(bytes, { saveOptimizedModelTo });
  try {
    return (await runner.run(x, [n, SIZE, SIZE, 3])).data;
  } finally {
    await runner.dispose();
  }
}

function opCounts(bytes: Uint8Array): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of onnx.ModelProto.decode(bytes).graph!.node!) out[n.opType!] = (out[n.opType!] ?? 0) + 1;
  return out;
}

test('folding BatchNorm and ZeroPadding into the Conv leaves the float model\'s outputs as they were (1e-5)', async () => {
  const g = new EditableGraph(decodeModel(floatBytes));
  const report = prepareForQuantization(g);
  assert.deepEqual(report, { foldedBatchNorms: 2, foldedPads: 1 });
  const ops = opCounts(g.encode());
  assert.equal(ops.BatchNormalization, undefined);
  assert.equal(ops.Pad, undefined);
  assert.equal(ops.Sum, undefined, 'the two-input Sum became an Add');
  assert.equal(ops.Add, 1);
  const x = images(4, 7);
  const [a, b] = [await outputs(floatBytes, x, 4), await outputs(g.encode(), x, 4)];
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-5, `${i}: ${v} vs ${b[i]}`));
});

test('the int8 model holds int8 weights and QDQ pairs, onnxruntime runs it as QLinearConv / QLinearAdd, and its outputs follow float32', async () => {
  const { model, report } = await quantizeOnnx(floatBytes, { calibration, calibrationMethod: 'minmax', quantizeFirstConv: true });
  assert.deepEqual(report.quantized, { Conv: 4, Add: 1, MaxPool: 1, GlobalAveragePool: 1 });
  assert.deepEqual(report.keptFloat, ['predictions/Gemm'], 'the Dense head stays float by default');
  assert.equal(report.fusedActivations, 1, 'the ReLU6 is absorbed by the QuantizeLinear after conv_a');
  const types = initializerTypes(model);
  // Weights are int8 with zero point 0 by default (onnxruntime's fast u8 x s8 kernels): 4 weights + 4 zero points.
  assert.ok(types.INT8 >= 8, `8-bit weights: ${JSON.stringify(types)}`);
  assert.equal(report.weightType, 'int8');
  assert.equal(report.saturationSafe, true);
  assert.equal(report.biasCorrection, true);
  assert.ok(types.INT32 >= 3, `int32 biases: ${JSON.stringify(types)}`);
  const ops = opCounts(model);
  assert.ok(ops.QuantizeLinear >= 6 && ops.DequantizeLinear > ops.QuantizeLinear, JSON.stringify(ops));
  assert.equal(ops.Clip, undefined);

  const dir = mkdtempSync(join(tmpdir(), 'tlkit-quantize-'));
  const x = images(16, 9);
  const a = await outputs(floatBytes, x, 16);
  const b = await outputs(model, x, 16, join(dir, 'optimized.onnx'));
  const optimized = opCounts(new Uint8Array(readFileSync(join(dir, 'optimized.onnx'))));
  assert.equal(optimized.QLinearConv, 4, `onnxruntime fused every quantized Conv: ${JSON.stringify(optimized)}`);
  assert.equal(optimized.QLinearAdd, 1);
  assert.equal(optimized.Conv, undefined, 'no float Conv left');

  let agree = 0;
  let maxDiff = 0;
  for (let i = 0; i < 16; i++) {
    const ra = a.subarray(i * 4, i * 4 + 4);
    const rb = b.subarray(i * 4, i * 4 + 4);
    if (ra.indexOf(Math.max(...ra)) === rb.indexOf(Math.max(...rb))) agree++;
    for (let k = 0; k < 4; k++) maxDiff = Math.max(maxDiff, Math.abs(ra[k] - rb[k]));
  }
  assert.ok(maxDiff < 0.02, `probabilities within 0.02 of float32: ${maxDiff}`);
  assert.ok(maxDiff > 0, 'int8 differs from float32 at all (quantization happened)');
  assert.ok(agree >= 15, `top-1 agreement ${agree}/16`);
});

test('weightType uint8 stores uint8 weights with zero point 128; the outputs stay as close', async () => {
  const { model, report } = await quantizeOnnx(floatBytes, { calibration, weightType: 'uint8' });
  assert.equal(report.quantized.Conv, 3, 'the first Conv stays float by default');
  assert.ok(report.keptFloat.some((n) => n.startsWith('conv_a')), JSON.stringify(report.keptFloat));
  assert.equal(report.weightType, 'uint8');
  assert.equal(report.saturationSafe, false, 'u8 x u8 kernels cannot saturate');
  assert.equal(initializerTypes(model).INT8, undefined, `no int8 initializer: ${JSON.stringify(initializerTypes(model))}`);
  const x = images(16, 9);
  const [a, b] = [await outputs(floatBytes, x, 16), await outputs(model, x, 16)];
  let maxDiff = 0;
  a.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - b[i]))));
  assert.ok(maxDiff < 0.02 && maxDiff > 0, `largest probability difference ${maxDiff}`);
});

test('keepFloat leaves the named layer in float; an unknown name is a UsageError naming it', async () => {
  const { model, report } = await quantizeOnnx(floatBytes, { calibration, keepFloat: ['project_b'], quantizeDense: true, quantizeFirstConv: true });
  assert.equal(report.quantized.Conv, 3);
  assert.equal(report.quantized.Gemm, 1);
  assert.ok(report.keptFloat.some((n) => n.startsWith('project_b')), JSON.stringify(report.keptFloat));
  assert.equal(opCounts(model).Conv, 4);
  await assert.rejects(quantizeOnnx(floatBytes, { calibration, keepFloat: ['no_such_layer'] }), (e: unknown) => e instanceof UsageError && /no_such_layer/.test(e.message));
});

test('percentile calibration cuts the tails off a histogram; min-max keeps them', () => {
  const h = new Float64Array(11);
  h[0] = 1; // one outlier at the minimum
  h[5] = 9998;
  h[10] = 1; // and one at the maximum
  assert.deepEqual(percentileRange(h, -10, 10, 0), { min: -10, max: 10 });
  const r = percentileRange(h, -10, 10, 1e-3);
  assert.ok(r.min > -10 && r.min < 0 && r.max < 10 && r.max > 0, JSON.stringify(r));
});

test('activation scales keep 0.0 exact and clamp a post-ReLU range at the zero point', () => {
  const p = activationParams({ min: 0, max: 5.1 }, 'uint8');
  assert.equal(p.zeroPoint, 0);
  assert.ok(Math.abs(p.scale - 0.02) < 1e-12, `scale ${p.scale}`);
  const q = activationParams({ min: -1, max: 3 }, 'uint8');
  assert.ok(Math.abs(q.scale - 4 / 255) < 1e-12, `scale ${q.scale}`);
  assert.equal(q.zeroPoint, Math.round(255 / 4), 'the integer that stands for 0.0');
  assert.equal(activationParams({ min: 0, max: 2 }, 'int8').zeroPoint, -128);
});
