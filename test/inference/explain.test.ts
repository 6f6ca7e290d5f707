// explain end to end: the pointing game on a set where the class is the half holding a bright square
// (a small convnet trained here in seconds), then `tlkit explain` (--json shape, --out files, errors).
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initEngine, tf, tfl } from '../../src/engines/tfjs/tf.js';
import { explain } from '../../src/inference/explain.js';
import { saveModel } from '../../src/weights/saved_model.js';
import { SQUARE_CLASSES, brightSquareSet, pointingGame, writeSquareSet, type SquareSet } from '../helpers/bright_square_set.js';
import { runCli } from '../helpers/io.js';

const SIZE = 64;
let dir: string;
let runDir: string;
let testSet: SquareSet;
let testFiles: string[];

/**
 * Three strided 3x3 convs (64 -> 8 x 8 x 16), then the reference experiment's head (Flatten, Dense 16
 * relu, Dropout, softmax Dense); seeded initialisers, no shuffling: the same model every run.
 */
function smallConvNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [SIZE, SIZE, 3] });
  let h = input as tfl.SymbolicTensor;
  for (const [i, filters] of [8, 16, 16].entries()) {
    h = tfl.layers.conv2d({ filters, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: `conv${i + 1}`, kernelInitializer: tfl.initializers.heNormal({ seed: 11 + i }) }).apply(h) as tfl.SymbolicTensor;
  }
  h = tfl.layers.flatten().apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.dropout({ rate: 0.25 }).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax', name: 'predictions', kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) }).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

before(async () => {
  await initEngine();
  dir = mkdtempSync(join(tmpdir(), 'tlkit-explain-'));
  const train = brightSquareSet(160, SIZE, 1);
  const x = tf.tensor4d(Float32Array.from(train.pixels, (v) => v / 255), [train.images.length, SIZE, SIZE, 3]);
  const y = tf.tensor1d(train.images.map((im) => im.label), 'float32');
  const model = smallConvNet();
  model.compile({ optimizer: tf.train.adam(3e-3), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  await model.fit(x, y, { epochs: 8, batchSize: 32, shuffle: false, verbose: 0 });
  tf.dispose([x, y]);
  runDir = join(dir, 'run');
  await saveModel(join(runDir, 'model'), model, { classNames: [...SQUARE_CLASSES], classMode: 'sparse', preprocess: 'none', rescale: 1 / 255, inputSize: [SIZE, SIZE], backbone: 'small_convnet', weightsSource: 'none' });
  model.dispose();
  testSet = brightSquareSet(64, SIZE, 99);
  testFiles = await writeSquareSet(testSet, join(dir, 'test'));
});

after(() => rmSync(dir, { recursive: true, force: true }));


test('pointing game: the heatmap peak falls in the square (grown by a quarter side) for >= 80% of correctly classified images', async () => {
  const explanations = await explain(runDir, testFiles);
  assert.equal(explanations.length, testFiles.length);
  const { correct, hits } = pointingGame(explanations, testSet);
  assert.ok(correct >= 0.8 * testFiles.length, `the model should classify the set (correct ${correct}/${testFiles.length})`);
  assert.ok(hits / correct >= 0.8, `pointing game ${hits}/${correct} = ${(hits / correct).toFixed(3)}`);
  // The heatmap is at the input's resolution by default; the peak is the centre of the highest feature cell
  // (8 px cells here), where the resized map is 1.
  for (const e of explanations) {
    assert.equal(e.heatmap.length, SIZE);
    assert.equal(e.heatmap[0].length, SIZE);
    assert.equal((e.peak.x - 4) % 8, 0, `peak x ${e.peak.x} is a cell centre`);
    assert.equal((e.peak.y - 4) % 8, 0, `peak y ${e.peak.y} is a cell centre`);
    // The map's one maximum is at the peak, so a reader taking the argmax of `heatmap` finds the same point
    // (without it, a border cell's value runs flat to the image edge and the first maximum sits there).
    assert.equal(e.heatmap[e.peak.row][e.peak.col], 1, `heatmap at the peak: ${e.heatmap[e.peak.row][e.peak.col]}`);
    const flat = e.heatmap.flat();
    assert.equal(flat.indexOf(Math.max(...flat)), e.peak.row * SIZE + e.peak.col, 'the first maximum of heatmap is the peak');
  }
  const e = explanations[0];
  assert.equal(e.layer, 'conv3');
  assert.deepEqual(e.featureSize, [8, 8]);
});

test('tlkit explain --json prints [{file, className, probability, heatmap, inputSize}] for each image', async () => {
  const files = testFiles.slice(0, 3);
  const { code, stdout } = await runCli(['explain', runDir, ...files, '--json', '--heatmap-size', 'features', '--engine', 'tfjs']);
  assert.equal(code, 0);
  const parsed = JSON.parse(stdout) as { file: string; className: string; probability: number; heatmap: number[][]; inputSize: number[] }[];
  assert.equal(parsed.length, 3);
  parsed.forEach((p, i) => {
    assert.equal(p.file, files[i]);
    assert.ok((SQUARE_CLASSES as readonly string[]).includes(p.className));
    assert.ok(p.probability >= 0.5 && p.probability <= 1);
    assert.deepEqual(p.inputSize, [SIZE, SIZE]);
    assert.equal(p.heatmap.length, 8);
    assert.ok(p.heatmap.every((row) => row.length === 8 && row.every((v) => v >= 0 && v <= 1)));
    assert.equal(Math.max(...p.heatmap.flat()), 1);
  });
});

test('tlkit explain --out writes one overlay PNG per image and explain.json; a bad file is reported and exits 1', async () => {
  const out = join(dir, 'overlays');
  const bad = join(dir, 'broken.png');
  writeFileSync(bad, 'not an image');
  const { code, stdout, stderr } = await runCli(['explain', runDir, testFiles[0], testFiles[1], bad, '--out', out]);
  assert.equal(code, 1);
  assert.match(stderr, /broken\.png/);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^.*img0000\.png\t(left|right) \d\.\d{4}\tpeak x=\d+ y=\d+ of 64x64\t.*img0000\.png$/);
  assert.deepEqual(readdirSync(out).sort(), ['explain.json', 'img0000.png', 'img0001.png']);
  const meta = await sharp(join(out, 'img0000.png')).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 320); // scaled up to the overlay size
  const json = JSON.parse(readFileSync(join(out, 'explain.json'), 'utf8')) as { file: string; overlay?: string; error?: string }[];
  assert.equal(json.length, 3);
  assert.equal(json[0].overlay, join(out, 'img0000.png'));
  assert.ok(json[2].error && !json[2].overlay);
  assert.ok(existsSync(json[1].overlay!));
});

test('tlkit explain: an unknown --layer or one without a feature map is a usage error (exit 2)', async () => {
  const unknown = await runCli(['explain', runDir, testFiles[0], '--layer', 'nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no layer named "nope".*conv3/s);
  const flat = await runCli(['explain', runDir, testFiles[0], '--layer', 'predictions']);
  assert.equal(flat.code, 2);
  assert.match(flat.stderr, /rows x cols x channels/);
  const other = await runCli(['explain', runDir, testFiles[0], '--layer', 'conv2', '--json', '--heatmap-size', 'features']);
  assert.equal(other.code, 0);
  assert.equal((JSON.parse(other.stdout) as { heatmap: number[][] }[])[0].heatmap.length, 16);
});

test('tlkit explain --method occlusion: the input hidden patch by patch; --occlusion-* flags need that method', async () => {
  const r = await runCli(['explain', runDir, testFiles[0], '--method', 'occlusion', '--occlusion-patch', '0.5', '--json', '--heatmap-size', 'features']);
  assert.equal(r.code, 0, r.stderr);
  const [e] = JSON.parse(r.stdout) as { heatmap: number[][]; score: string }[];
  assert.equal(e.heatmap.length, 4, '32 px patches moved by 16 px on a 64 px image: 4 x 4 cells');
  assert.equal(e.score, 'log-odds');
  const text = await runCli(['explain', runDir, testFiles[0], '--method', 'occlusion']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stderr, /occlusion of the input \(8x8 cells\), score: the class's log-odds/);
  const misplaced = await runCli(['explain', runDir, testFiles[0], '--occlusion-fill', 'mean']);
  assert.equal(misplaced.code, 2);
  assert.match(misplaced.stderr, /--occlusion-fill applies to --method occlusion only/);
});
