import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { WeightsError, FileError } from '../../src/core/errors.js';
import { readKerasH5, loadH5Weights } from '../../src/weights/h5_import.js';
import { saveH5 } from '../../src/weights/h5_export.js';
import { loadH5wasm } from '../../src/weights/h5.js';

const FIXTURES = new URL('../fixtures/weights/', import.meta.url).pathname;
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')).weights as Record<string, number[][]>;

/** The model scripts/reference/make_h5_fixtures.py describes, with its explicit layer names. */
function tinyModel(filters = 4): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3], name: 'input_1' });
  let x = tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', name: 'conv1' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'relu1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'tiny' });
}

function values(model: tfl.LayersModel, layer: string): number[][] {
  return model.getLayer(layer).getWeights().map((w) => Array.from(w.dataSync()));
}

function assertClose(actual: number[][], wanted: number[][]): void {
  assert.equal(actual.length, wanted.length);
  actual.forEach((a, i) => {
    assert.equal(a.length, wanted[i]!.length);
    a.forEach((v, j) => assert.ok(Math.abs(v - wanted[i]![j]!) < 1e-6, `weight ${i}[${j}]: ${v} vs ${wanted[i]![j]}`));
  });
}

function assertTinyLoaded(model: tfl.LayersModel): void {
  assertClose(values(model, 'conv1'), expected.conv!);
  assertClose(values(model, 'bn1'), expected.bn!);
  assertClose(values(model, 'predictions'), expected.dense!);
}

before(async () => {
  await initEngine();
});

test('readKerasH5 reads the layer list, weight names and shapes of a Keras-layout file', async () => {
  const stored = await readKerasH5(join(FIXTURES, 'tiny_named.h5'));
  assert.deepEqual(stored.layers.map((l) => l.name), ['input_1', 'conv1', 'bn1', 'relu1', 'gap', 'predictions']);
  assert.deepEqual(stored.layers[2]!.weights.map((w) => w.name), ['bn1/gamma:0', 'bn1/beta:0', 'bn1/moving_mean:0', 'bn1/moving_variance:0']);
  assert.deepEqual(stored.layers[1]!.weights[0]!.shape, [3, 3, 3, 4]);
  assert.equal(stored.kerasVersion, '2.15.0');
  assert.equal(stored.backend, 'tensorflow');
});

test('loads by name and by topological order', async () => {
  for (const byName of [true, false]) {
    const model = tinyModel();
    const result = await loadH5Weights(model, join(FIXTURES, 'tiny_named.h5'), { byName });
    assert.equal(result.weightsLoaded, 8);
    assert.equal(result.layersLoaded, 3);
    assertTinyLoaded(model);
  }
});

test('a full-model file (weights under /model_weights) loads too', async () => {
  const model = tinyModel();
  await loadH5Weights(model, join(FIXTURES, 'tiny_full_model.h5'));
  assertTinyLoaded(model);
});

test('auto-named layers load by topological order, and by name they list every weight as missing and unexpected', async () => {
  const model = tinyModel();
  await loadH5Weights(model, join(FIXTURES, 'tiny_autonamed.h5'));
  assertTinyLoaded(model);

  const other = tinyModel();
  const before = values(other, 'conv1');
  await assert.rejects(loadH5Weights(other, join(FIXTURES, 'tiny_autonamed.h5'), { byName: true }), (error: Error) => {
    assert.ok(error instanceof WeightsError);
    assert.match(error.message, /8 missing, 8 unexpected, 0 wrongly shaped/);
    assert.match(error.message, /missing[^\n]*\n\s+conv1\/kernel \[3,3,3,4\]/);
    assert.match(error.message, /conv2d_7\/kernel \[3,3,3,4\]/);
    assert.match(error.message, /Nothing was loaded/);
    return true;
  });
  assert.deepEqual(values(other, 'conv1'), before, 'a failed load must not change any weight');
});

test('wrong shapes are listed with both shapes, and nothing is assigned', async () => {
  const model = tinyModel();
  const before = values(model, 'predictions');
  await assert.rejects(loadH5Weights(model, join(FIXTURES, 'tiny_wrong_shape.h5')), (error: Error) => {
    assert.ok(error instanceof WeightsError);
    assert.match(error.message, /0 missing, 0 unexpected, 7 wrongly shaped/);
    assert.match(error.message, /conv1\/kernel: model \[3,3,3,4\], stored conv1\/kernel \[3,3,3,5\]/);
    assert.match(error.message, /predictions\/kernel: model \[4,2\], stored predictions\/kernel \[5,2\]/);
    return true;
  });
  assert.deepEqual(values(model, 'predictions'), before);
});

test('byName + skipMismatch loads the layers that fit and reports the others', async () => {
  const model = tinyModel(5);
  const result = await loadH5Weights(model, join(FIXTURES, 'tiny_named.h5'), { byName: true, skipMismatch: true });
  assert.equal(result.layersLoaded, 0);
  assert.equal(result.skipped.length, 3);
  assert.match(result.skipped[0]!, /^conv1: conv1\/kernel: model \[3,3,3,5\]/);
});

test('a layer-count difference by order lists missing layers', async () => {
  const input = tfl.input({ shape: [8, 8, 3], name: 'input_1' });
  const c = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv1' }).apply(input) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: c, name: 'conv_only' });
  await assert.rejects(loadH5Weights(model, join(FIXTURES, 'tiny_named.h5')), /0 missing, 6 unexpected[\s\S]*bn1\/gamma \[4\] \(stored layer #2 with weights\)/);
});

test('missing file and non-Keras file give FileError naming the path', async () => {
  await assert.rejects(loadH5Weights(tinyModel(), '/nonexistent/w.h5'), (e: Error) => e instanceof FileError && /\/nonexistent\/w\.h5: no such weights file/.test(e.message));
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-h5-'));
  const h5 = await loadH5wasm();
  const f = new h5.File(join(dir, 'plain.h5'), 'w');
  f.create_dataset({ name: 'x', data: new Float32Array(2), shape: [2], dtype: '<f' });
  f.close();
  await assert.rejects(readKerasH5(join(dir, 'plain.h5')), /no 'layer_names' attribute/);
});

/** Every group, attribute and dataset of a file, as text lines, for layout comparisons. */
async function layout(path: string, root?: string): Promise<string[]> {
  const h5 = await loadH5wasm();
  const file = new h5.File(path, 'r');
  const lines: string[] = [];
  const walk = (group: InstanceType<typeof h5.Group>, prefix: string) => {
    for (const [name, attr] of Object.entries(group.attrs)) {
      const v = attr.value;
      const shown = ArrayBuffer.isView(v) ? `[${Array.from(v as Float64Array).join(',')}]` : JSON.stringify(v);
      lines.push(`${prefix}@${name}=${shown}`);
    }
    for (const key of group.keys().sort()) {
      const child = group.get(key);
      if (child instanceof h5.Group) walk(child, `${prefix}/${key}`);
      else if (child instanceof h5.Dataset) lines.push(`${prefix}/${key} ${child.dtype} [${child.shape}]`);
    }
  };
  walk(root ? (file.get(root) as InstanceType<typeof h5.Group>) : file, '');
  file.close();
  return lines.filter((l) => !/@tlkit_version=|@model_config=/.test(l));
}

test('export -> .h5 -> import round-trips every weight, in the layout the Keras fixture has', async () => {
  const model = tinyModel();
  await loadH5Weights(model, join(FIXTURES, 'tiny_named.h5'));
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-h5-'));

  await saveH5(model, join(dir, 'weights.h5'), { weightsOnly: true });
  assert.deepEqual(await layout(join(dir, 'weights.h5')), await layout(join(FIXTURES, 'tiny_named.h5')));

  await saveH5(model, join(dir, 'model.h5'));
  assert.deepEqual(await layout(join(dir, 'model.h5'), 'model_weights'), await layout(join(FIXTURES, 'tiny_full_model.h5'), 'model_weights'));

  for (const file of ['weights.h5', 'model.h5']) {
    const copy = tinyModel();
    await loadH5Weights(copy, join(dir, file), { byName: true });
    for (const layer of ['conv1', 'bn1', 'predictions']) assert.deepEqual(values(copy, layer), values(model, layer));
  }
  // The full-model file carries a Keras-format model config.
  const h5 = await loadH5wasm();
  const f = new h5.File(join(dir, 'model.h5'), 'r');
  const config = JSON.parse(String(f.attrs['model_config']!.value));
  f.close();
  assert.deepEqual(Object.keys(config), ['class_name', 'config']);
  assert.deepEqual(config.config.layers.map((l: { name: string }) => l.name), ['input_1', 'conv1', 'bn1', 'relu1', 'gap', 'predictions']);
  tf.dispose(model.weights.map((w) => w.read()));
});

test("integer weights (Normalization's count) round-trip as Keras's int64", async () => {
  const { Normalization } = await import('../../src/models/layers/normalization.js');
  const build = () => {
    const input = tfl.input({ shape: [4, 4, 3], name: 'input_1' });
    const norm = new Normalization({ name: 'normalization' });
    return tfl.model({ inputs: input, outputs: norm.apply(input) as tfl.SymbolicTensor });
  };
  const model = build();
  const [mean, variance, count] = model.getLayer('normalization').weights;
  mean!.write(tf.tensor1d([1, 2, 3]));
  variance!.write(tf.tensor1d([4, 5, 6]));
  count!.write(tf.scalar(1234, 'int32'));
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-h5-'));
  await saveH5(model, join(dir, 'norm.h5'), { weightsOnly: true });
  const stored = await readKerasH5(join(dir, 'norm.h5'));
  assert.deepEqual(stored.layers[1]!.weights.map((w) => [w.name, w.shape]), [['normalization/mean:0', [3]], ['normalization/variance:0', [3]], ['normalization/count:0', []]]);
  const copy = build();
  await loadH5Weights(copy, join(dir, 'norm.h5'));
  assert.deepEqual(copy.getLayer('normalization').weights.map((w) => [w.dtype, Array.from(w.read().dataSync())]), [['float32', [1, 2, 3]], ['float32', [4, 5, 6]], ['int32', [1234]]]);
});
