import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { saveModel, loadModel } from '../../src/weights/saved_model.js';
import { loadH5Weights } from '../../src/weights/h5_import.js';
import { runCli } from '../helpers/io.js';

function tinyClassifier(): tfl.LayersModel {
  const input = tfl.input({ shape: [12, 12, 3], name: 'input_1' });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'conv1' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'relu1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, activation: 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'tiny' });
}

let model: tfl.LayersModel;
let runDir: string;

before(async () => {
  await initEngine();
  model = tinyClassifier();
  runDir = mkdtempSync(join(tmpdir(), 'tlkit-export-'));
  await saveModel(join(runDir, 'model'), model, { classNames: ['a', 'b', 'c'], classMode: 'categorical', preprocess: 'tf', inputSize: [12, 12], backbone: 'mobilenet', weightsSource: 'none' });
});

const x = () => tf.randomUniform([2, 12, 12, 3], -1, 1, 'float32', 11);

test('export --format h5 writes a Keras .h5 that loads back into the same architecture', async () => {
  const r = await runCli(['export', runDir, '--format', 'h5']);
  assert.equal(r.code, 0, r.stderr);
  const out = join(runDir, 'model.h5');
  assert.equal(r.stdout, `wrote ${out} (Keras .h5)\n`);
  const copy = tinyClassifier();
  await loadH5Weights(copy, out);
  assert.deepEqual(Array.from((copy.predict(x()) as tf.Tensor).dataSync()), Array.from((model.predict(x()) as tf.Tensor).dataSync()));
});

test('export --format tfjs --out DIR writes a loadable tfjs model folder with the metadata', async () => {
  const out = join(runDir, 'web');
  const r = await runCli(['export', join(runDir, 'model'), '--format', 'tfjs', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const { model: loaded, metadata } = await loadModel(out);
  assert.deepEqual(metadata, JSON.parse(readFileSync(join(runDir, 'model', 'tlkit.json'), 'utf8')));
  assert.deepEqual(Array.from((loaded.predict(x()) as tf.Tensor).dataSync()), Array.from((model.predict(x()) as tf.Tensor).dataSync()));
});

test('export --format onnx runs in onnxruntime with tfjs\'s outputs', async () => {
  const out = join(runDir, 'tiny.onnx');
  const r = await runCli(['export', runDir, '--format', 'onnx', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(out));
  const session = await ort.InferenceSession.create(out);
  const input = x();
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', Float32Array.from(input.dataSync()), input.shape) };
  const result = await session.run(feeds);
  const got = result[session.outputNames[0]!]!.data as Float32Array;
  const want = (model.predict(input) as tf.Tensor).dataSync();
  assert.equal(got.length, want.length);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-4, `${i}: ${v} vs ${want[i]}`));
});

test('bad flags exit 2 with what is accepted; a missing model exits 1', async () => {
  let r = await runCli(['export', runDir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--format is required: one of onnx, tfjs, h5/);
  r = await runCli(['export', runDir, '--format', 'pt']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--format expects one of onnx, tfjs, h5, web; got 'pt'/);
  r = await runCli(['export', runDir, '--format', 'h5', '--batch-size', '4']);
  assert.equal(r.code, 2);
  r = await runCli(['export', join(runDir, 'nope'), '--format', 'h5']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nope: no such model directory/);
});
