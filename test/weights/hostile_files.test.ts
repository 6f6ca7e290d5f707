// Issue 16, items 4 and 6: files that lie. A .h5 that is not HDF5, a .h5 declaring an 8.6 GB dataset,
// model.json manifests pointing outside their folder, a saved model with NaN weights.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { FileError, WeightsError } from '../../src/core/errors.js';
import { loadH5Weights, readKerasH5 } from '../../src/weights/h5_import.js';
import { NotHdf5Error } from '../../src/weights/h5.js';
import { loadModel, saveModel } from '../../src/weights/saved_model.js';
import { predict } from '../../src/inference/predict.js';
import { runCli } from '../helpers/io.js';
import { redirectManifest, writeHugeDeclaredH5, writeNotHdf5 } from '../helpers/hostile_files.js';

let root: string;

function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3], name: 'input_1' });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv1' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'tiny' });
}

const METADATA = { classNames: ['shirt', 'shoe'], classMode: 'categorical' as const, preprocess: 'tf' as const, inputSize: [8, 8] as [number, number], backbone: 'tiny', weightsSource: 'none' };

/** A run directory with a saved tiny model: root/NAME/model. */
async function savedRun(name: string, model = tinyModel()): Promise<string> {
  const run = join(root, name);
  await saveModel(join(run, 'model'), model, METADATA);
  model.dispose();
  return run;
}

before(async () => {
  await initEngine();
  root = await fs.mkdtemp(join(tmpdir(), 'tlkit-hostile-'));
});

test('a .h5 that is not HDF5: "not an HDF5 file: PATH", not h5wasm\'s "name not defined"', async () => {
  const path = join(root, 'fake.h5');
  await writeNotHdf5(path);
  await assert.rejects(loadH5Weights(tinyModel(), path), (e: unknown) => e instanceof NotHdf5Error && e instanceof FileError && e.message.startsWith(`not an HDF5 file: ${path}`));
  await assert.rejects(readKerasH5(path), NotHdf5Error);
});

test('a .h5 declaring a 3x3x3x8e7 kernel (8.6 GB) is refused by its shape before any value is read', async () => {
  const path = join(root, 'huge.h5');
  await writeHugeDeclaredH5(path, [3, 3, 3, 80_000_000]);
  assert.ok((await fs.stat(path)).size < 1 << 20, 'the file itself is small');
  const rssBefore = process.memoryUsage().rss;
  await assert.rejects(loadH5Weights(tinyModel(), path), (e: unknown) => e instanceof WeightsError && /conv1\/kernel: model \[3,3,3,4\], stored conv1\/kernel \[3,3,3,80000000\]/.test(e.message));
  // The eager reader (every value) refuses the declared size instead of allocating it.
  await assert.rejects(readKerasH5(path), (e: unknown) => e instanceof FileError && /declares shape \[3,3,3,80000000\].*not read/.test(e.message));
  assert.ok(process.memoryUsage().rss - rssBefore < 1 << 30, 'no gigabytes allocated');
});

test("model.json manifest paths must stay inside the model folder (load and export --format tfjs)", async () => {
  const run = await savedRun('escape');
  const modelDir = join(run, 'model');
  // A "secret" of exactly the model's weight size: before the fix it loaded as the weights and was copied.
  const size = (await fs.stat(join(modelDir, 'weights.bin'))).size;
  await fs.mkdir(join(root, 'secret'), { recursive: true });
  await fs.writeFile(join(root, 'secret', 'x.bin'), Buffer.alloc(size, 7));
  await redirectManifest(modelDir, '../../secret/x.bin');
  await assert.rejects(loadModel(modelDir), (e: unknown) => e instanceof FileError && /weightsManifest path "\.\.\/\.\.\/secret\/x\.bin" leaves the folder/.test(e.message));
  const r = await runCli(['export', run, '--format', 'tfjs', '--out', join(root, 'web-escape')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /leaves the folder/);
  assert.equal(existsSync(join(root, 'web-escape')), false, 'nothing exported');

  await redirectManifest(modelDir, '../../../../etc/passwd');
  await assert.rejects(loadModel(modelDir), /leaves the folder/);
  await redirectManifest(modelDir, '/etc/passwd');
  await assert.rejects(loadModel(modelDir), /is absolute/);
  // A link inside the folder that points outside it.
  await fs.symlink(join(root, 'secret', 'x.bin'), join(modelDir, 'linked.bin'));
  await redirectManifest(modelDir, 'linked.bin');
  await assert.rejects(loadModel(modelDir), /is a link to .*secret\/x\.bin, outside the folder/);
});

function poisonedModel(): tfl.LayersModel {
  const model = tinyModel();
  const kernel = model.getLayer('predictions').getWeights()[0]!;
  const poisoned = tf.tidy(() => tf.mul(kernel, tf.scalar(Number.NaN)));
  model.getLayer('predictions').setWeights([poisoned, model.getLayer('predictions').getWeights()[1]!]);
  return model;
}

test('predict with NaN weights fails clearly instead of printing "shirt NaN"', async () => {
  // In memory (the library's predict): the output is checked.
  const inMemory = poisonedModel();
  await assert.rejects(predict(inMemory, tf.zeros([1, 8, 8, 3]) as tf.Tensor4D, { classNames: ['shirt', 'shoe'] }), /the model's output is not finite \(NaN\)/);
  inMemory.dispose();
  // On disk: refused when loaded, naming the weight.
  const run = await savedRun('nan', poisonedModel());
  const image = join(root, 'img.png');
  await sharp(Buffer.alloc(8 * 8 * 3, 100), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(image);
  const r = await runCli(['predict', run, image]);
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stdout, /NaN/);
  assert.match(r.stderr, /weights\.bin: weight predictions\/kernel holds 8 non-finite value\(s\) \(NaN or Infinity\) of 8: this model cannot predict/);
});
