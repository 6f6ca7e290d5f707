// int8 from the command line to the server: `export --format onnx --quantize int8` measures both
// precisions on held-out images and writes RUN/model.int8.onnx or refuses; evaluate / predict / serve
// --quantize int8 run it (and refuse a copy made from other weights); /v1/model says the precision.
//
// Two fixtures. A brightness classifier (Conv 1x1 -> ReLU -> GAP -> Dense, weights set by hand: class
// 'bright' when the mean pixel is above 127.5) whose right answers are known, so accuracy and the
// refusal can be checked exactly. And MobileNetV2 (alpha 0.35, 48 px, random weights) on the bundled
// Fashion-MNIST shoes, for the real graph on real images.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { initializerTypes } from '../../src/engines/onnx/quantize.js';
import { saveModel } from '../../src/weights/saved_model.js';
import { onnxMetadata } from '../../src/weights/quantized_onnx.js';
import { createServer } from '../../src/serve/server.js';
import { runCli } from '../helpers/io.js';
import { makeRun } from './helpers.js';

const SHOES = fileURLToPath(new URL('../../samples/fashion-shoes', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'tlkit-int8-'));
const SIZE = 16;
let brightness: string;

/** 'bright' (unit 0) when the mean preprocessed pixel is above 0: logits +-50 * (g - 0.2), g = 0.2 * (mean + 1). */
function brightnessModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [SIZE, SIZE, 3], name: 'image' });
  const conv = tfl.layers.conv2d({ filters: 1, kernelSize: 1, name: 'conv' });
  const dense = tfl.layers.dense({ units: 2, activation: 'softmax', name: 'predictions' });
  let x = conv.apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  const out = dense.apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out, name: 'brightness' });
  conv.setWeights([tf.fill([1, 1, 3, 1], 0.2 / 3), tf.tensor1d([0.2])]);
  dense.setWeights([tf.tensor2d([[50, -50]]), tf.tensor1d([-10, 10])]);
  return model;
}

async function greyImages(dir: string, levels: number[], seed: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  let s = seed;
  for (const [i, level] of levels.entries()) {
    const pixels = Buffer.alloc(SIZE * SIZE * 3).map(() => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return Math.max(0, Math.min(255, level + ((s >> 16) % 21) - 10));
    });
    await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(join(dir, `${i}.png`));
  }
}

before(async () => {
  await initEngine();
  brightness = join(root, 'brightness');
  const model = brightnessModel();
  await saveModel(join(brightness, 'model'), model, { classNames: ['bright', 'dark'], classMode: 'categorical', preprocess: 'tf', inputSize: [SIZE, SIZE], backbone: 'mobilenet_v2', weightsSource: 'none' });
  model.dispose();
  const bright = [170, 185, 200, 215, 230, 245];
  const dark = [10, 25, 40, 55, 70, 85];
  for (const [split, seed] of [['train', 1], ['test', 2]] as const) {
    await greyImages(join(root, split, 'bright'), bright, seed);
    await greyImages(join(root, split, 'dark'), dark, seed + 10);
  }
  await greyImages(join(root, 'black', 'bright'), [0, 0], 3);
  await greyImages(join(root, 'black', 'dark'), [0, 0], 4);
});

after(() => rmSync(root, { recursive: true, force: true }));

const exportInt8 = (run: string, ...flags: string[]) => runCli(['export', run, '--format', 'onnx', '--quantize', 'int8', ...flags]);
// The brightness model's only Conv is its first: quantize it whatever the accuracy (the default would try it in float too).
const exportBrightness = (...flags: string[]) => exportInt8(brightness, '--quantize-first-conv', ...flags);

test('export --quantize int8 prints both precisions\' held-out accuracy and writes RUN/model.int8.onnx with int8 weights', async () => {
  const r = await exportBrightness('--calibration-data', join(root, 'train'), '--validation-data', join(root, 'test'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /held-out accuracy on 12 images \(.*test\): float32 1\.0000, int8 1\.0000 \(drop 0\.00 points, allowed 1\.00\)/);
  const out = join(brightness, 'model.int8.onnx');
  assert.match(r.stdout, new RegExp(`wrote ${out} \\(ONNX int8 QDQ, .*quantized 1 Conv, 1 GlobalAveragePool; in float: .*1 Gemm`));
  const bytes = new Uint8Array(await import('node:fs/promises').then((fs) => fs.readFile(out)));
  const types = initializerTypes(bytes);
  assert.ok(types.UINT8 >= 2, `the Conv weight is stored in 8 bits: ${JSON.stringify(types)}`);
  const meta = onnxMetadata(bytes);
  assert.equal(meta['tlkit.precision'], 'int8');
  assert.equal(JSON.parse(meta['tlkit.quantization']).accuracy.int8, 1);
});

test('an int8 model that loses more accuracy than allowed is refused with the figures, and nothing is written', async () => {
  // Calibrated on black images only, the activation ranges end at 0: every brighter input saturates.
  const out = join(root, 'refused.int8.onnx');
  const r = await exportBrightness('--calibration-data', join(root, 'black'), '--validation-data', join(root, 'test'), '--calibration-method', 'minmax', '--out', out);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /float32 1\.0000, int8 0\.5000 \(drop 50\.00 points, allowed 1\.00\)/);
  assert.match(r.stderr, /int8 accuracy 0\.5000 is 50\.00 points below float32 1\.0000 on 12 held-out images .* more than the allowed 1\.00: nothing written/);
  assert.ok(!existsSync(out));
  // A larger tolerance accepts the same model.
  const accepted = await exportBrightness('--calibration-data', join(root, 'black'), '--validation-data', join(root, 'test'), '--calibration-method', 'minmax', '--out', out, '--max-accuracy-drop', '0.6');
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.ok(existsSync(out));
  // --first-conv auto (the default): the model with its first Conv quantized is refused, so it is measured
  // again with that Conv in float, and the figures of both attempts are printed.
  const blackCalibration = ['--calibration-data', join(root, 'black'), '--validation-data', join(root, 'test'), '--calibration-method', 'minmax'];
  const autoOut = join(root, 'auto.int8.onnx');
  const auto = await exportInt8(brightness, ...blackCalibration, '--out', autoOut);
  assert.equal(auto.code, 1, auto.stdout + auto.stderr);
  assert.match(auto.stdout, /with the first convolution quantized too: int8 0\.5000 \(drop 50\.00 points, over the allowed 1\.00\): left it in float and measured again/);
  assert.match(auto.stderr, /int8 accuracy 0\.5000 is 50\.00 points below float32 1\.0000 on 12 held-out images .*more than the allowed 1\.00 \(with the first convolution in float\): nothing written/);
  assert.ok(!existsSync(autoOut));
  // With the pooling kept in float too ('gap' is the Keras layer: the pool and its Flatten), the first Conv
  // is all there is to quantize: no second attempt, the first one's figures.
  const onlyConv = await exportInt8(brightness, ...blackCalibration, '--keep-float', 'gap', '--out', autoOut);
  assert.equal(onlyConv.code, 1, onlyConv.stdout + onlyConv.stderr);
  assert.doesNotMatch(onlyConv.stdout, /measured again/);
  assert.match(onlyConv.stderr, /more than the allowed 1\.00: nothing written\. Try .*--first-conv float/);
  // Forced, nothing is tried twice; the two spellings must agree.
  const forced = await exportInt8(brightness, ...blackCalibration, '--first-conv', 'int8', '--out', autoOut);
  assert.equal(forced.code, 1);
  assert.doesNotMatch(forced.stdout, /measured again/);
  const contradiction = await exportInt8(brightness, '--quantize-first-conv', '--first-conv', 'float');
  assert.equal(contradiction.code, 2);
  assert.match(contradiction.stderr, /--quantize-first-conv and --first-conv float contradict each other/);
});

test('unreadable images in the calibration and held-out folders are left out and named; the figures count the others', async () => {
  const dirs = { calibration: join(root, 'train-dirty'), heldOut: join(root, 'test-dirty') };
  await greyImages(join(dirs.calibration, 'bright'), [200, 230], 5);
  await greyImages(join(dirs.calibration, 'dark'), [20, 50], 6);
  await greyImages(join(dirs.heldOut, 'bright'), [190, 220], 7);
  await greyImages(join(dirs.heldOut, 'dark'), [30, 60], 8);
  writeFileSync(join(dirs.calibration, 'dark', 'empty.png'), '');
  writeFileSync(join(dirs.heldOut, 'bright', 'notes.png'), 'not an image');
  const r = await exportBrightness('--calibration-data', dirs.calibration, '--validation-data', dirs.heldOut, '--out', join(root, 'dirty.int8.onnx'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /skipped .*empty\.png: zero-byte file/);
  assert.match(r.stderr, /skipped .*notes\.png: not an image/);
  assert.match(r.stderr, /2 unreadable images left out/);
  assert.match(r.stdout, /held-out accuracy on 4 images .*float32 1\.0000, int8 1\.0000/);
  assert.match(r.stdout, /calibrated percentile on 4 images/);
});

test('bad quantization flags exit 2 saying what is accepted; a run without data needs --calibration-data', async () => {
  let r = await runCli(['export', brightness, '--format', 'h5', '--quantize', 'int8']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--quantize int8 does not apply to --format h5: accepted are --format onnx --quantize int8, --format web --quantize uint8\|float16/);
  r = await runCli(['export', brightness, '--format', 'web', '--quantize', 'int8']);
  assert.equal(r.code, 2);
  r = await runCli(['export', brightness, '--format', 'onnx', '--calibration-images', '5']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--calibration-images applies to --format onnx --quantize int8 only/);
  r = await runCli(['predict', brightness, join(root, 'test'), '--quantize', 'int4']);
  assert.equal(r.code, 2);
  r = await exportBrightness('--out', join(root, 'x.onnx'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no training images to calibrate on: not a run directory with a config\.json; give .*--calibration-data DIR/);
});

test('MobileNetV2 on real images: evaluate / predict --quantize int8 agree with float32, and a stale int8 copy is refused', async () => {
  const run = await makeRun(join(root, 'mobilenet_v2'), { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [48, 48, 3] }, classNames: ['sandal', 'sneaker'], classMode: 'categorical' });
  const e = await exportInt8(run, '--calibration-data', join(SHOES, 'train'), '--validation-data', join(SHOES, 'test'), '--calibration-images', '32');
  assert.equal(e.code, 0, e.stdout + e.stderr);
  assert.match(e.stdout, /quantized 52 Conv, 10 Add, 1 GlobalAveragePool; in float: 1 Transpose, 1 Flatten, 1 Gemm/);

  const files = [join(SHOES, 'test', 'sandal'), join(SHOES, 'test', 'sneaker')];
  const [f32, i8] = await Promise.all([runCli(['predict', run, ...files, '--json', '--top-k', '2']), runCli(['predict', run, ...files, '--json', '--top-k', '2', '--quantize', 'int8'])]);
  assert.equal(i8.code, 0, i8.stderr);
  type P = { file: string; top: { className: string; probability: number }[] };
  const a = JSON.parse(f32.stdout) as P[];
  const b = JSON.parse(i8.stdout) as P[];
  assert.equal(b.length, 200);
  let agree = 0;
  let maxDiff = 0;
  a.forEach((p, i) => {
    assert.equal(b[i].file, p.file);
    if (b[i].top[0].className === p.top[0].className) agree++;
    const q = Object.fromEntries(b[i].top.map((t) => [t.className, t.probability]));
    for (const t of p.top) maxDiff = Math.max(maxDiff, Math.abs(t.probability - q[t.className]));
  });
  assert.ok(agree >= 190, `top-1 agreement ${agree}/200`);
  // 52 layers of random weights amplify rounding more than trained ones do (see docs/deployment-quantization.md).
  assert.ok(maxDiff < 0.15 && maxDiff > 0, `largest probability difference ${maxDiff}`);

  const ev = await runCli(['evaluate', run, join(SHOES, 'test'), '--quantize', 'int8', '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const evaluation = JSON.parse(ev.stdout);
  assert.equal(evaluation.precision, 'int8');
  assert.equal(evaluation.samples, 200);

  // The model is saved again (retrained, say): the int8 copy no longer belongs to it.
  await makeRun(join(root, 'mobilenet_v2'), { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [48, 48, 3] }, classNames: ['sandal', 'sneaker'], classMode: 'categorical' }, 0.3);
  const stale = await runCli(['predict', run, files[0], '--quantize', 'int8']);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /model\.int8\.onnx: was made from other weights than .* holds now .* export it again/);
});

test('serve --quantize int8: /v1/model says int8 and the answers are the int8 model\'s', async () => {
  const server = await createServer({ runDir: brightness, port: 0, quantize: 'int8' });
  const url = await server.listen();
  try {
    const model = (await (await fetch(`${url}/v1/model`)).json()) as { precision: string };
    assert.equal(model.precision, 'int8');
    const body = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#e0e0e0' } }).png().toBuffer();
    const answer = (await (await fetch(`${url}/v1/predict`, { method: 'POST', body, headers: { 'content-type': 'image/png' } })).json()) as { predictions: { top: { className: string }[] }[] };
    assert.equal(answer.predictions[0].top[0].className, 'bright');
  } finally {
    await server.close();
  }
  const plain = await createServer({ runDir: brightness, port: 0 });
  try {
    const response = await plain.app.inject({ method: 'GET', url: '/v1/model' });
    assert.equal(response.json().precision, 'float32');
  } finally {
    await plain.close();
  }
  await assert.rejects(createServer({ runDir: join(root, 'mobilenet_v2-none'), port: 0, quantize: 'int8' }));
});
