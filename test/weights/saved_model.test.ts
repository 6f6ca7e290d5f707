import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, extname } from 'node:path';
import type { AddressInfo } from 'node:net';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { FileError } from '../../src/core/errors.js';
import { buildClassifier } from '../../src/models/classifier.js';
import { saveModel, loadModel, type ModelMetadataInput } from '../../src/weights/saved_model.js';

function tinyClassifier(units: number): tfl.LayersModel {
  const input = tfl.input({ shape: [16, 12, 3], name: 'input_1' });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv1' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units, activation: units === 1 ? 'sigmoid' : 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

const META: ModelMetadataInput = {
  classNames: ['cat', 'dog', 'fox'],
  classMode: 'categorical',
  preprocess: 'tf',
  inputSize: [16, 12],
  backbone: 'mobilenet',
  weightsSource: 'imagenet',
};

const batch = () => tf.randomUniform([2, 16, 12, 3], 0, 1, 'float32', 7);

before(async () => {
  await initEngine();
});

test('saveModel writes model.json + weights.bin + tlkit.json; loadModel gives the same predictions and metadata', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'tlkit-save-')), 'model');
  const model = tinyClassifier(3);
  const written = await saveModel(dir, model, META);
  assert.deepEqual(readdirSync(dir).sort(), ['model.json', 'tlkit.json', 'weights.bin']);
  assert.deepEqual(readdirSync(join(dir, '..')), ['model'], 'no temporary directory left behind');
  const onDisk = JSON.parse(readFileSync(join(dir, 'tlkit.json'), 'utf8'));
  assert.equal(onDisk.formatVersion, 1);
  assert.match(onDisk.createdAt, /^\d{4}-\d\d-\d\dT/);
  assert.equal(onDisk.tlkitVersion, JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  assert.deepEqual(onDisk, written);
  const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  assert.equal(modelJson.format, 'layers-model');
  assert.deepEqual(modelJson.weightsManifest[0].paths, ['weights.bin']);

  const { model: loaded, metadata } = await loadModel(dir);
  assert.deepEqual(metadata, written);
  const x = batch();
  assert.deepEqual(Array.from((loaded.predict(x) as tf.Tensor).dataSync()), Array.from((model.predict(x) as tf.Tensor).dataSync()));
});

test('the saved model loads with tf.loadLayersModel from a URL, as a browser loads it', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'tlkit-save-')), 'model');
  const model = tinyClassifier(3);
  await saveModel(dir, model, META);
  const server = createServer((req, res) => {
    const file = join(dir, (req.url ?? '/').slice(1));
    if (!existsSync(file)) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': extname(file) === '.json' ? 'application/json' : 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`;
    const loaded = await tfl.loadLayersModel(url);
    const x = batch();
    assert.deepEqual(Array.from((loaded.predict(x) as tf.Tensor).dataSync()), Array.from((model.predict(x) as tf.Tensor).dataSync()));
  } finally {
    server.close();
  }
});

test('saving over an existing model directory replaces it and keeps other files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-save-'));
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  await saveModel(dir, tinyClassifier(3), META);
  const second = tinyClassifier(2);
  await saveModel(dir, second, { ...META, classNames: ['a', 'b'], classMode: 'sparse' });
  assert.deepEqual(readdirSync(dir).sort(), ['model.json', 'notes.txt', 'tlkit.json', 'weights.bin']);
  const { model, metadata } = await loadModel(dir);
  assert.deepEqual(metadata.classNames, ['a', 'b']);
  const x = batch();
  assert.deepEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()), Array.from((second.predict(x) as tf.Tensor).dataSync()));
});

test('a zoo classifier (MobileNet 0.25 + head) round-trips', async () => {
  const c = buildClassifier({ backbone: 'mobilenet', backboneOptions: { alpha: 0.25, inputShape: [96, 96, 3] }, head: 'gap,dense:8:relu,dropout:0.25', classes: 2, classMode: 'binary' });
  const dir = join(mkdtempSync(join(tmpdir(), 'tlkit-save-')), 'model');
  await saveModel(dir, c.model, { classNames: ['sandal', 'sneaker'], classMode: 'binary', preprocess: c.preprocess, inputSize: [96, 96], backbone: 'mobilenet', weightsSource: 'none' });
  const { model } = await loadModel(dir);
  assert.equal(model.countParams(), c.model.countParams());
  const x = tf.randomUniform([1, 96, 96, 3], -1, 1, 'float32', 3);
  const diff = tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, c.model.predict(x) as tf.Tensor))).dataSync()[0]!;
  assert.ok(diff < 1e-6, `diff ${diff}`);
});

test('metadata that does not fit the model is refused before anything is written', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'tlkit-save-')), 'model');
  await assert.rejects(saveModel(dir, tinyClassifier(3), { ...META, classNames: ['a', 'b'] }), /output has 3 units but the metadata says 2/);
  await assert.rejects(saveModel(dir, tinyClassifier(1), { ...META, classMode: 'binary' }), /`classNames` must be 2 names when classMode is 'binary'/);
  await assert.rejects(saveModel(dir, tinyClassifier(3), { ...META, inputSize: [16, 16] }), /input is \[16, 12, 3\] but the metadata says inputSize \[16, 16\]/);
  await assert.rejects(saveModel(dir, tinyClassifier(3), { ...META, classMode: 'multi' as never }), /`classMode` must be one of binary, sparse, categorical. Received: classMode="multi"/);
  assert.equal(existsSync(dir), false);
});

test('loadModel names what is wrong: no directory, no tlkit.json, bad field, newer format, weights of another model', async () => {
  await assert.rejects(loadModel('/nonexistent/model'), (e: Error) => e instanceof FileError && /no such model directory/.test(e.message));
  const dir = join(mkdtempSync(join(tmpdir(), 'tlkit-save-')), 'model');
  await saveModel(dir, tinyClassifier(3), META);
  const metaPath = join(dir, 'tlkit.json');
  const good = readFileSync(metaPath, 'utf8');
  const edit = (change: Record<string, unknown>) => writeFileSync(metaPath, JSON.stringify({ ...JSON.parse(good), ...change }));

  edit({ preprocess: 'imagenet' });
  await assert.rejects(loadModel(dir), (e: Error) => e instanceof FileError && e.message.startsWith(metaPath) && /`preprocess` must be one of tf, caffe, torch, none. Received: preprocess="imagenet"/.test(e.message));
  edit({ formatVersion: 2 });
  await assert.rejects(loadModel(dir), /saved by a newer tlkit/);
  edit({ classNames: ['a', 'a', 'b'] });
  await assert.rejects(loadModel(dir), /without duplicates/);
  edit({ classNames: ['a', 'b'] });
  await assert.rejects(loadModel(dir), /output has 3 units but the metadata says 2/);
  writeFileSync(metaPath, good);
  writeFileSync(join(dir, 'weights.bin'), readFileSync(join(dir, 'weights.bin')).subarray(4));
  await assert.rejects(loadModel(dir), /weights\.bin: holds \d+ bytes but model\.json describes \d+/);
  rmSync(metaPath);
  await assert.rejects(loadModel(dir), /not a tlkit model: no tlkit\.json/);
});
