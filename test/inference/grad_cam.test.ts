// Grad-CAM's arithmetic against hand-computed values, and explain() on tiny models whose heatmap has a
// closed form: conv (known weights) -> global average pooling -> Dense. There d logit_c / dA_k(i, j) =
// W[k, c] / (rows * cols) everywhere, so the CAM is relu(sum_k W[k, c] A_k) scaled to a maximum of 1
// (Zhou et al.'s CAM, which Grad-CAM reduces to for such heads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initEngine, tf, tfl } from '../../src/engines/tfjs/tf.js';
import { gradCam, gradCamPlusPlus, hiResCam, heatmapPeak, resizeHeatmap } from '../../src/inference/grad_cam.js';
import { jetColor } from '../../src/inference/heatmap_overlay.js';
import { createExplainer, explain, lastConvolutionalLayer } from '../../src/inference/explain.js';
import { buildClassifier } from '../../src/models/classifier.js';
import { MobileNetV2 } from '../../src/models/mobilenet_v2.js';
import { saveModel } from '../../src/weights/saved_model.js';

test('gradCam: channel weights are the spatial mean of the gradient; relu, then scaled to 1', () => {
  // 2 x 2 cells, 2 channels, NHWC order: cell p holds [A(p, 0), A(p, 1)].
  const a = Float32Array.from([1, 0, 2, 1, 0, 3, 1, 1]);
  const g = Float32Array.from([1, 0, 3, -2, -1, -2, 1, 0]);
  // w0 = (1 + 3 - 1 + 1) / 4 = 1, w1 = (0 - 2 - 2 + 0) / 4 = -1; cells: 1-0, 2-1, 0-3, 1-1 -> 1, 1, -3, 0.
  const cam = gradCam(a, g, 2, 2, 2);
  assert.deepEqual(Array.from(cam.data), [1, 1, 0, 0]);
  // Nothing positive: all zeros, not NaN.
  assert.deepEqual(Array.from(gradCam(a, Float32Array.from(g, (v) => -Math.abs(v) - 1), 2, 2, 2).data), [0, 0, 0, 0]);
  assert.throws(() => gradCam(a, g, 3, 2, 2), /expects 12 values/);
});

test('hiResCam: gradient times activation cell by cell; equal to gradCam when the gradient is constant over space', () => {
  const a = Float32Array.from([1, 0, 2, 1, 0, 3, 1, 1]);
  const g = Float32Array.from([1, 0, 3, -2, -1, -2, 1, 0]);
  // cells: 1*1 + 0 = 1, 2*3 - 1*2 = 4, 0 - 3*2 = -6, 1*1 + 0 = 1 -> 0.25, 1, 0, 0.25
  assert.deepEqual(Array.from(hiResCam(a, g, 2, 2, 2).data), [0.25, 1, 0, 0.25]);
  const constant = Float32Array.from([0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25]);
  const x = Array.from(hiResCam(a, constant, 2, 2, 2).data);
  const y = Array.from(gradCam(a, constant, 2, 2, 2).data);
  x.forEach((v, i) => assert.ok(Math.abs(v - y[i]) < 1e-6));
});

test('gradCamPlusPlus: channel weights sum alpha * relu(g), alpha = g^2 / (2 g^2 + sum(A) g^3); negative gradients do not count', () => {
  const a = Float32Array.from([1, 0, 2, 1, 0, 3, 1, 1]);
  const g = Float32Array.from([1, 0, 3, -2, -1, -2, 1, 2]);
  // Channel sums of A: 4 and 5. Channel 0, positive g at cells 0, 1, 3: 1/(2 + 4) * 1 + 9/(18 + 4 * 27) * 3 + 1/6 = 23/42.
  // Channel 1, positive g at cell 3 only: 4/(8 + 5 * 8) * 2 = 1/6 (its -2s are ignored; Grad-CAM's mean would be -1/2).
  // Cells: 23/42, 46/42 + 7/42, 0 + 21/42, 23/42 + 7/42 -> divided by the peak 53/42.
  const cam = gradCamPlusPlus(a, g, 2, 2, 2);
  [23 / 53, 1, 21 / 53, 30 / 53].forEach((v, i) => assert.ok(Math.abs(cam.data[i] - v) < 1e-6, `cell ${i}: ${cam.data[i]} vs ${v}`));
  assert.deepEqual(Array.from(gradCamPlusPlus(a, Float32Array.from(g, (v) => -Math.abs(v) - 1), 2, 2, 2).data), [0, 0, 0, 0]);
  assert.throws(() => gradCamPlusPlus(a, g, 3, 2, 2), /expects 12 values/);
});

test('resizeHeatmap keeps the peak at the centre of the peak cell; heatmapPeak maps cells to pixel centres', () => {
  const map = { rows: 2, cols: 4, data: Float32Array.from([0, 0, 0, 0, 0, 0, 1, 0]) };
  const big = resizeHeatmap(map, 20, 40);
  assert.equal(big.data.length, 800);
  const peak = heatmapPeak(big, 20, 40);
  // Cell (1, 2) spans x 20..30, y 10..20: its centre is (25, 15); the resized peak is the pixel there.
  assert.ok(Math.abs(peak.x - 25) <= 1 && Math.abs(peak.y - 15) <= 1, JSON.stringify(peak));
  assert.deepEqual(heatmapPeak(map, 20, 40), { row: 1, col: 2, x: 25, y: 15 });
  // Corners keep the corner values (clamped sampling): no values outside 0..1.
  assert.ok(big.data.every((v) => v >= 0 && v <= 1));
});

test('jetColor runs dark blue -> cyan -> yellow -> dark red', () => {
  assert.deepEqual(jetColor(0), [0, 0, 128]);
  assert.deepEqual(jetColor(0.375), [0, 255, 255]);
  assert.deepEqual(jetColor(0.625), [255, 255, 0]);
  assert.deepEqual(jetColor(1), [128, 0, 0]);
  assert.deepEqual(jetColor(Number.NaN), jetColor(0));
});

/** conv 1x1 (3 -> 2 channels, relu, known weights) -> GAP -> Dense(units, activation) with known weights. */
function tinyCamModel(units: 1 | 2, activation: 'softmax' | 'sigmoid', size: number): { model: tfl.LayersModel; kernel: number[][]; bias: number[]; dense: number[][] } {
  const kernel = [
    [1.0, -0.5],
    [-0.5, 1.0],
    [0.25, 0.25],
  ];
  const bias = [0.1, -0.05];
  const dense = units === 2 ? [[1.5, -1.0], [-0.7, 2.0]] : [[1.2], [-0.9]];
  const input = tfl.input({ shape: [size, size, 3] });
  const conv = tfl.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu', name: 'features' });
  let h = conv.apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  const head = tfl.layers.dense({ units, activation, name: 'predictions' });
  const out = head.apply(h) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  conv.setWeights([tf.tensor4d(kernel.flat(), [1, 1, 3, 2]), tf.tensor1d(bias)]);
  head.setWeights([tf.tensor2d(dense.flat(), [2, units]), tf.tensor1d(units === 2 ? [0.3, -0.3] : [0.2])]);
  return { model, kernel, bias, dense };
}

/** The closed-form CAM of `tinyCamModel` for one image (values 0..1 after rescale), class c, sign s. */
function expectedCam(pixels: Uint8Array, size: number, kernel: number[][], bias: number[], weights: number[]): number[] {
  const cam: number[] = [];
  for (let p = 0; p < size * size; p++) {
    let sum = 0;
    for (let k = 0; k < 2; k++) {
      let a = bias[k];
      for (let ch = 0; ch < 3; ch++) a += kernel[ch][k] * (pixels[p * 3 + ch] / 255);
      sum += weights[k] * Math.max(0, a);
    }
    cam.push(Math.max(0, sum));
  }
  const max = Math.max(...cam);
  return cam.map((v) => (max > 0 ? v / max : 0));
}

async function writeImage(file: string, pixels: Uint8Array, size: number): Promise<void> {
  await sharp(Buffer.from(pixels), { raw: { width: size, height: size, channels: 3 } }).png().toFile(file);
}

test('explain on conv -> GAP -> softmax Dense equals the analytical CAM of the predicted class (both engines agree)', async () => {
  await initEngine();
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-gradcam-'));
  try {
    const size = 5;
    const { model, kernel, bias, dense } = tinyCamModel(2, 'softmax', size);
    assert.equal(lastConvolutionalLayer(model), 'features');
    await saveModel(join(dir, 'model'), model, { classNames: ['a', 'b'], classMode: 'sparse', preprocess: 'none', rescale: 1 / 255, inputSize: [size, size], backbone: 'tiny', weightsSource: 'none' });
    const images = [
      Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 37 + 11) % 256),
      Uint8Array.from({ length: size * size * 3 }, (_, i) => (i % 3 === 1 ? 250 - ((i * 13) % 90) : (i * 7) % 60)),
    ];
    const files = [join(dir, 'one.png'), join(dir, 'two.png')];
    for (let i = 0; i < 2; i++) await writeImage(files[i], images[i], size);
    const probabilities = (model.predict(tf.tensor4d(Float32Array.from(images.flatMap((im) => Array.from(im, (v) => v / 255))), [2, size, size, 3])) as tf.Tensor).arraySync() as number[][];
    for (const engine of ['tfjs', 'onnx'] as const) {
      const result = await explain(join(dir, 'model'), files, { heatmapSize: 'features', engine });
      assert.equal(result.length, 2);
      for (let i = 0; i < 2; i++) {
        const e = result[i];
        const c = probabilities[i][1] > probabilities[i][0] ? 1 : 0;
        assert.equal(e.classIndex, c, `${engine} image ${i}: predicted class`);
        assert.equal(e.className, ['a', 'b'][c]);
        assert.ok(Math.abs(e.probability - probabilities[i][c]) < 1e-4);
        assert.equal(e.score, 'log-odds');
        assert.equal(e.layer, 'features');
        assert.deepEqual(e.featureSize, [size, size]);
        // Two classes: the log-odds is z_c - z_other, so the channel weights are W[k, c] - W[k, other].
        const expected = expectedCam(images[i], size, kernel, bias, [dense[0][c] - dense[0][1 - c], dense[1][c] - dense[1][1 - c]]);
        const got = e.heatmap.flat();
        got.forEach((v, p) => assert.ok(Math.abs(v - expected[p]) <= 2e-3, `${engine} image ${i} cell ${p}: ${v} vs ${expected[p]}`));
      }
    }
    // The other class's logit alone on request (Keras's example): its own column of weights.
    const other = await explain(join(dir, 'model'), [files[0]], { heatmapSize: 'features', targetClass: 'a', score: 'logit', engine: 'tfjs' });
    assert.equal(other[0].score, 'logit');
    const expectedA = expectedCam(images[0], size, kernel, bias, [dense[0][0], dense[1][0]]);
    other[0].heatmap.flat().forEach((v, p) => assert.ok(Math.abs(v - expectedA[p]) <= 2e-3));
    model.dispose();
    // Nothing is left behind: loading, explaining and disposing leaves the tensor count as it was.
    const before = tf.memory().numTensors;
    await explain(join(dir, 'model'), files, { engine: 'tfjs' });
    assert.equal(tf.memory().numTensors, before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('explain on a sigmoid unit: class 1 is explained by the logit z, class 0 by -z', async () => {
  await initEngine();
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-gradcam-'));
  try {
    const size = 4;
    const { model, kernel, bias, dense } = tinyCamModel(1, 'sigmoid', size);
    await saveModel(join(dir, 'model'), model, { classNames: ['neg', 'pos'], classMode: 'binary', preprocess: 'none', rescale: 1 / 255, inputSize: [size, size], backbone: 'tiny', weightsSource: 'none' });
    const pixels = Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 53 + 5) % 256);
    await writeImage(join(dir, 'x.png'), pixels, size);
    const p = ((model.predict(tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [1, size, size, 3])) as tf.Tensor).dataSync())[0];
    for (const [target, sign] of [['pos', 1], ['neg', -1]] as const) {
      const [e] = await explain(join(dir, 'model'), [join(dir, 'x.png')], { heatmapSize: 'features', targetClass: target, engine: 'tfjs' });
      assert.equal(e.score, 'logit'); // a sigmoid's logit is already the log-odds
      assert.equal(e.className, target);
      assert.ok(Math.abs(e.probability - (target === 'pos' ? p : 1 - p)) < 1e-4);
      assert.equal(e.predictedClass, p >= 0.5 ? 'pos' : 'neg');
      const expected = expectedCam(pixels, size, kernel, bias, [sign * dense[0][0], sign * dense[1][0]]);
      e.heatmap.flat().forEach((v, q) => assert.ok(Math.abs(v - expected[q]) <= 2e-3, `${target} cell ${q}: ${v} vs ${expected[q]}`));
    }
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the last convolutional layer is the backbone's last activation; a backbone nested as one layer is explained as one", async () => {
  await initEngine();
  const flat = buildClassifier({ backbone: 'mobilenet_v2', backboneOptions: { inputShape: [32, 32, 3], alpha: 0.35 }, head: 'flatten,dense:16:relu,dropout:0.25', classes: 2, classMode: 'sparse' });
  assert.equal(lastConvolutionalLayer(flat.model), 'out_relu');
  flat.model.dispose();
  // Keras's other way to build a classifier: the whole backbone called as one layer.
  const backbone = MobileNetV2({ inputShape: [32, 32, 3], alpha: 0.35, includeTop: false });
  const input = tfl.input({ shape: [32, 32, 3] });
  let h = backbone.apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(h) as tfl.SymbolicTensor;
  const nested = tfl.model({ inputs: input, outputs: out });
  assert.equal(lastConvolutionalLayer(nested), backbone.name);
  const metadata = { formatVersion: 1, classNames: ['a', 'b', 'c'], classMode: 'sparse' as const, preprocess: 'tf' as const, inputSize: [32, 32] as [number, number], backbone: 'mobilenet_v2', weightsSource: 'none', createdAt: '', tlkitVersion: '' };
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-gradcam-'));
  try {
    await writeImage(join(dir, 'x.png'), Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 29) % 256), 32);
    const explainer = await createExplainer(nested, metadata, { engine: 'tfjs', heatmapSize: 'features' });
    const [e] = await explainer.explainFiles([join(dir, 'x.png')]);
    await explainer.dispose();
    assert.equal(e.layer, backbone.name);
    assert.deepEqual(e.featureSize, [1, 1]);
    assert.equal(e.score, 'log-odds');
    // A layer inside the nested backbone that is not its output cannot be cut at.
    await assert.rejects(createExplainer(nested, metadata, { layer: 'block_6_expand_relu', engine: 'tfjs' }), /inside the nested model/);
  } finally {
    nested.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
