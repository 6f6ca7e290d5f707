import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { tf, initEngine } from '../../src/engines/tfjs/tf.js';
import { fit } from '../../src/train/loop/fit.js';
import { TensorIterator } from '../helpers/tensor_iterator.js';
import { saveModel } from '../../src/weights/saved_model.js';
import { runCli } from '../helpers/io.js';
import { squaresDataset, tinyConvNet } from './helpers.js';

let modelDir: string;
let imageDir: string;

before(async () => {
  await initEngine();
  const root = await fs.mkdtemp(join(tmpdir(), 'tlkit-cli-'));
  // A small convnet trained on the generated squares, saved as a run's model folder with 'tf' preprocessing.
  const data = squaresDataset(64, 31);
  const model = tinyConvNet();
  await fit(model, new TensorIterator(data.x, data.y, { batchSize: 16, seed: 1 }), { epochs: 12, loss: 'sparse_categorical_crossentropy', learningRate: 0.05, seed: 2 });
  modelDir = join(root, 'run', 'model');
  await saveModel(modelDir, model, { classNames: ['bottom', 'top'], classMode: 'sparse', preprocess: 'tf', inputSize: [8, 8], backbone: 'tiny', weightsSource: 'none' });
  // The same kind of images as PNG files: pixel = (value + 1) * 127.5 undoes the 'tf' preprocessing.
  imageDir = join(root, 'images');
  const test = squaresDataset(10, 32);
  const pixels = test.x.dataSync();
  const labels = test.y.dataSync();
  for (let i = 0; i < 10; i++) {
    const cls = labels[i] === 1 ? 'top' : 'bottom';
    await fs.mkdir(join(imageDir, cls), { recursive: true });
    const raw = Buffer.from(Array.from(pixels.subarray(i * 192, (i + 1) * 192), (v) => Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)))));
    await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(imageDir, cls, `img${i}.png`));
  }
  tf.dispose([data.x, data.y, test.x, test.y]);
  model.dispose();
});

test('tlkit evaluate prints accuracy, per-class metrics and the confusion matrix', async () => {
  const r = await runCli(['evaluate', join(modelDir, '..'), imageDir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /accuracy \d\.\d{4} {2}loss \d\.\d{4} {2}\(10 images\)/);
  assert.match(r.stdout, /confusion matrix/);
  const j = await runCli(['evaluate', modelDir, imageDir, '--json']);
  const evaluation = JSON.parse(j.stdout);
  assert.equal(evaluation.samples, 10);
  assert.deepEqual(evaluation.classNames, ['bottom', 'top']);
  assert.ok(evaluation.accuracy >= 0.9, `accuracy ${evaluation.accuracy}`);
  for (const m of evaluation.misclassified) assert.ok(m.file.startsWith(imageDir) && m.file.includes(`/${m.trueClass}/`), m.file);
});

test('tlkit evaluate on a folder holding some of the classes: the others are empty rows, foreign folders are left out, both said', async () => {
  const partial = join(imageDir, '..', 'partial');
  await fs.mkdir(join(partial, 'birds'), { recursive: true });
  await fs.cp(join(imageDir, 'top'), join(partial, 'top'), { recursive: true });
  await fs.copyFile(join(partial, 'top', (await fs.readdir(join(partial, 'top')))[0]), join(partial, 'birds', 'b.png'));
  const tops = (await fs.readdir(join(partial, 'top'))).length;
  const r = await runCli(['evaluate', modelDir, partial, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /no images of class bottom: evaluated on the other 1 of the model's 2/);
  assert.match(r.stderr, /left out folder birds, not a class of the model \(bottom, top\)/);
  const evaluation = JSON.parse(r.stdout);
  assert.equal(evaluation.samples, tops, 'the top images only; birds/ left out');
  assert.deepEqual(evaluation.perClass.map((c: { support: number }) => c.support), [0, tops]);
  // The macro average is over the classes that occur (sklearn's report): 'bottom' counts only if predicted.
  const bottomPredicted = evaluation.confusionMatrix[1][0] > 0;
  const expected = bottomPredicted ? (evaluation.perClass[0].recall + evaluation.perClass[1].recall) / 2 : evaluation.perClass[1].recall;
  assert.ok(Math.abs(evaluation.macro.recall - expected) < 1e-12, `${evaluation.macro.recall} vs ${expected}`);
  await fs.rm(join(partial, 'top'), { recursive: true });
  const none = await runCli(['evaluate', modelDir, partial]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no images in the folders of classes bottom, top \(other folders, not classes: birds\)/);
});

test('tlkit evaluate gives the same numbers on onnxruntime and on tfjs', async () => {
  const onnx = JSON.parse((await runCli(['evaluate', modelDir, imageDir, '--json', '--engine', 'onnx'])).stdout);
  const tfjs = JSON.parse((await runCli(['evaluate', modelDir, imageDir, '--json', '--engine', 'tfjs'])).stdout);
  assert.equal(onnx.engine, 'onnx');
  assert.equal(tfjs.engine, 'tfjs');
  assert.deepEqual(onnx.confusionMatrix, tfjs.confusionMatrix);
  assert.ok(Math.abs(onnx.loss - tfjs.loss) < 1e-4, `${onnx.loss} vs ${tfjs.loss}`);
});

test('tlkit predict lists top-k classes per image as text, JSON and CSV', async () => {
  const j = await runCli(['predict', modelDir, imageDir, '--top-k', '2', '--json']);
  assert.equal(j.code, 0, j.stderr);
  const predictions = JSON.parse(j.stdout);
  assert.equal(predictions.length, 10);
  for (const p of predictions) {
    assert.equal(p.top.length, 2);
    assert.ok(Math.abs(p.top[0].probability + p.top[1].probability - 1) < 1e-5);
    assert.ok(p.top[0].probability >= p.top[1].probability);
  }
  const correct = predictions.filter((p: { file: string; top: { className: string }[] }) => p.file.includes(`/${p.top[0].className}/`)).length;
  assert.ok(correct >= 9, `${correct}/10 right`);
  const broken = join(imageDir, '..', 'broken.png');
  await fs.writeFile(broken, 'not an image');
  const b = await runCli(['predict', modelDir, broken, join(imageDir, 'top', 'img1.png')]);
  assert.equal(b.code, 1);
  assert.match(b.stdout, /broken\.png\terror: /);
  assert.match(b.stdout, /img1\.png\t(top|bottom) /);
  const c = await runCli(['predict', modelDir, join(imageDir, 'top', 'img1.png'), '--csv']);
  assert.equal(c.stdout.trim().split('\n')[0], 'file,rank,class,probability,error');
  assert.equal(c.stdout.trim().split('\n').length, 2);
});

test('CLI errors: missing model, bad flags', async () => {
  const r = await runCli(['predict', '/nonexistent-model', imageDir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\/nonexistent-model: no such model directory/);
  const t = await runCli(['train', imageDir]);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /--backbone is required/);
  const f = await runCli(['train', imageDir, '--backbone', 'mobilenet', '--freeze-backbone', '--fine-tune-from', 'conv_pw_13']);
  assert.equal(f.code, 2);
  const o = await runCli(['train', imageDir, '--backbone', 'mobilenet', '--optimizer', 'adagrad']);
  assert.equal(o.code, 2);
  assert.match(o.stderr, /--optimizer expects one of adam, sgd, rmsprop/);
});
