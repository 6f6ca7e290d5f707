// Where things are on a real backbone: mobilenet_v2 with the offline (nsfwjs) weights at 128 px, a bright
// square on a black image. Guards the path explain relies on against a transposed, flipped or NCHW/NHWC
// mix-up: the decoded file keeps the square where it was drawn, the prefix's feature map is the same on
// onnxruntime and tfjs, and the cells that change when the square is added lie where the square is.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initEngine, tf, tfl } from '../../src/engines/tfjs/tf.js';
import { buildClassifier } from '../../src/models/classifier.js';
import { loadOfflineWeights } from '../../src/weights/offline.js';
import { splitAtLayer } from '../../src/engines/onnx/split_at_layer.js';
import { openInferenceEngine, type InferenceEngine } from '../../src/engines/inference_engine.js';
import { lastConvolutionalLayer } from '../../src/inference/explain.js';
import { loadImageForModel } from '../../src/inference/predict.js';

const SIZE = 128;
const SIDE = 32;
// Square corners, one per quadrant, placed so that neither a left-right mirror nor a transpose of the
// square's centre falls inside the square.
const PLACES = [
  { x: 4, y: 24 },
  { x: 84, y: 8 },
  { x: 12, y: 76 },
  { x: 92, y: 68 },
];
const METADATA = { inputSize: [SIZE, SIZE] as [number, number], preprocess: 'none' as const, rescale: 1 / 255 };
let dir: string;
let model: tfl.LayersModel;
let prefix: tfl.LayersModel;
let onnx: InferenceEngine;

before(async () => {
  await initEngine();
  dir = mkdtempSync(join(tmpdir(), 'tlkit-explain-geometry-'));
  const classifier = buildClassifier({ backbone: 'mobilenet_v2', backboneOptions: { inputShape: [SIZE, SIZE, 3] }, classes: 2, classMode: 'categorical' });
  loadOfflineWeights(classifier.backbone, 'nsfwjs', 'mobilenet_v2');
  model = classifier.model;
  prefix = splitAtLayer(model, lastConvolutionalLayer(model)).prefix;
  onnx = await openInferenceEngine(prefix, 'onnx');
});

after(async () => {
  await onnx?.dispose();
  model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** A black PNG with a white square at (x, y), decoded as explain decodes it. */
async function squareInput(x: number, y: number): Promise<tf.Tensor4D> {
  const pixels = Buffer.alloc(SIZE * SIZE * 3);
  for (let r = y; r < y + SIDE; r++) for (let c = x; c < x + SIDE; c++) pixels.fill(255, (r * SIZE + c) * 3, (r * SIZE + c) * 3 + 3);
  const file = join(dir, `square_${x}_${y}.png`);
  await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(file);
  return tf.tensor4d(await loadImageForModel(file, METADATA), [1, SIZE, SIZE, 3]);
}

/** Per cell, the sum over channels of |A(square) - A(black)|: rows x cols. */
function change(withSquare: tf.Tensor, black: tf.Tensor): number[][] {
  return tf.tidy(() => (tf.sum(tf.abs(tf.sub(withSquare, black)), 3).arraySync() as number[][][])[0]);
}

test('the decoded image keeps the square where it was drawn (x right, y down)', async () => {
  for (const { x, y } of PLACES) {
    const input = await squareInput(x, y);
    const data = input.dataSync();
    const at = (px: number, py: number): number => data[(py * SIZE + px) * 3];
    assert.equal(at(x + SIDE / 2, y + SIDE / 2), 1, `square centre (${x + SIDE / 2}, ${y + SIDE / 2})`);
    assert.equal(at(SIZE - 1 - (x + SIDE / 2), y + SIDE / 2), 0, 'mirrored left-right: black');
    assert.equal(at(y + SIDE / 2, x + SIDE / 2), 0, 'transposed: black');
    input.dispose();
  }
});

// At the last block (4 x 4 at 128 px) every cell sees the whole image, and the change spreads (a square in
// the bottom-right quadrant changes the top-right cells about as much): only the half is checked there,
// what the pointing-game set's class depends on; the finer block below is checked to the cell.
test('mobilenet_v2 prefix: onnxruntime and tfjs give the same NHWC map, and the square changes the cells of its own half most', async () => {
  const black = tf.zeros([1, SIZE, SIZE, 3]) as tf.Tensor4D;
  const blackTfjs = prefix.apply(black, { training: false }) as tf.Tensor;
  const blackOnnx = await onnx.predictor!(black);
  for (const { x, y } of PLACES) {
    const input = await squareInput(x, y);
    const viaTfjs = prefix.apply(input, { training: false }) as tf.Tensor;
    const viaOnnx = await onnx.predictor!(input);
    assert.deepEqual(viaOnnx.shape, viaTfjs.shape);
    assert.deepEqual(viaTfjs.shape, [1, 4, 4, 1280]);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(viaOnnx, viaTfjs))).dataSync()[0]);
    assert.ok(diff < 1e-3, `onnx vs tfjs: max |difference| ${diff}`);
    // 4 x 4 cells: the change summed over the left two columns and over the right two.
    const grid = change(viaOnnx, blackOnnx);
    const left = grid.reduce((s, row) => s + row[0] + row[1], 0);
    const right = grid.reduce((s, row) => s + row[2] + row[3], 0);
    const squareOnLeft = x + SIDE / 2 < SIZE / 2;
    assert.ok(squareOnLeft ? left > 1.3 * right : right > 1.3 * left, `square at (${x}, ${y}): change left ${left.toFixed(0)}, right ${right.toFixed(0)}`);
    tf.dispose([input, viaTfjs, viaOnnx]);
  }
  tf.dispose([black, blackTfjs, blackOnnx]);
});

test('mobilenet_v2 at stride 8 (block_6_expand_relu, 16 x 16): the most changed cell lies in the square grown by a quarter of its side', async () => {
  const layer = model.getLayer('block_6_expand_relu').output as tfl.SymbolicTensor;
  const probe = tfl.model({ inputs: model.inputs, outputs: layer });
  const black = tf.zeros([1, SIZE, SIZE, 3]) as tf.Tensor4D;
  const blackMap = probe.predict(black) as tf.Tensor;
  for (const { x, y } of PLACES) {
    const input = await squareInput(x, y);
    const map = probe.predict(input) as tf.Tensor;
    const grid = change(map, blackMap);
    let best = [0, 0];
    grid.forEach((row, r) => row.forEach((v, c) => { if (v > grid[best[0]][best[1]]) best = [r, c]; }));
    const cx = (best[1] + 0.5) * (SIZE / grid[0].length);
    const cy = (best[0] + 0.5) * (SIZE / grid.length);
    const g = SIDE / 4;
    assert.ok(cx >= x - g && cx <= x + SIDE + g && cy >= y - g && cy <= y + SIDE + g, `square at (${x}, ${y}): most changed cell centre (${cx}, ${cy})`);
    tf.dispose([input, map]);
  }
  tf.dispose([black, blackMap]);
});
