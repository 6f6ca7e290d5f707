// The layer explain explains by default (camLayer): the last convolutional block when its map has at least
// 7 x 7 cells, else the last block one stride earlier. On a GAP convnet whose last map is 4 x 4 (every cell
// seeing most of the image) the heatmap of that last map misses the square; the finer one finds it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine, tf, tfl } from '../../src/engines/tfjs/tf.js';
import { camLayer, explain, lastConvolutionalLayer } from '../../src/inference/explain.js';
import { buildClassifier } from '../../src/models/classifier.js';
import { saveModel } from '../../src/weights/saved_model.js';
import { SQUARE_CLASSES, brightSquareSet, pointingGame, writeSquareSet, type SquareSet } from '../helpers/bright_square_set.js';

const SIZE = 64;
let dir: string;
let runDir: string;
let testSet: SquareSet;
let testFiles: string[];

/** Four strided 3 x 3 convs (64 -> 32 -> 16 -> 8 -> 4 cells), global average pooling, softmax Dense(2): tlkit's default head on a small backbone. */
function gapConvNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [SIZE, SIZE, 3] });
  let h = input as tfl.SymbolicTensor;
  for (let i = 0; i < 4; i++) {
    h = tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: `conv${i + 1}`, kernelInitializer: tfl.initializers.heNormal({ seed: 21 + i }) }).apply(h) as tfl.SymbolicTensor;
  }
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax', name: 'predictions', kernelInitializer: tfl.initializers.glorotUniform({ seed: 6 }) }).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

before(async () => {
  await initEngine();
  dir = mkdtempSync(join(tmpdir(), 'tlkit-explain-layer-'));
  const train = brightSquareSet(240, SIZE, 1);
  const x = tf.tensor4d(Float32Array.from(train.pixels, (v) => v / 255), [train.images.length, SIZE, SIZE, 3]);
  const y = tf.tensor1d(train.images.map((im) => im.label), 'float32');
  const model = gapConvNet();
  model.compile({ optimizer: tf.train.adam(3e-3), loss: 'sparseCategoricalCrossentropy' });
  await model.fit(x, y, { epochs: 10, batchSize: 32, shuffle: false, verbose: 0 });
  tf.dispose([x, y]);
  runDir = join(dir, 'run');
  await saveModel(join(runDir, 'model'), model, { classNames: [...SQUARE_CLASSES], classMode: 'sparse', preprocess: 'none', rescale: 1 / 255, inputSize: [SIZE, SIZE], backbone: 'gap_convnet', weightsSource: 'none' });
  model.dispose();
  testSet = brightSquareSet(100, SIZE, 107);
  testFiles = await writeSquareSet(testSet, join(dir, 'test'));
});

after(() => rmSync(dir, { recursive: true, force: true }));


test('a GAP convnet whose last map is 4 x 4: the default layer is the 8 x 8 one before it, and its peak finds the square', async (t) => {
  const byDefault = await explain(runDir, testFiles);
  assert.equal(byDefault[0].layer, 'conv3');
  assert.deepEqual(byDefault[0].featureSize, [8, 8]);
  const finer = pointingGame(byDefault, testSet);
  assert.ok(finer.correct >= 0.7 * testFiles.length, `the model should classify the set (correct ${finer.correct}/${testFiles.length})`);
  assert.ok(finer.hits / finer.correct >= 0.8, `pointing game at conv3 (default) ${finer.hits}/${finer.correct}`);
  // The last block, the default before: its 4 x 4 map points elsewhere (the evidence sits in the empty half and the border cells).
  const last = pointingGame(await explain(runDir, testFiles, { layer: 'conv4' }), testSet);
  t.diagnostic(`pointing game: conv3 (default) ${finer.hits}/${finer.correct}, conv4 ${last.hits}/${last.correct}`);
  assert.ok(last.hits / last.correct < 0.7, `pointing game at conv4 ${last.hits}/${last.correct}`);
});

test('occlusion on the same GAP convnet: hiding the square is what moves the decision, and its map finds the square', async (t) => {
  const occluded = await explain(runDir, testFiles, { method: 'occlusion' });
  const game = pointingGame(occluded, testSet);
  const e = occluded[0];
  // 64 px: 16 px patches moved by 8 px, reported on the 8 x 8 grid of 8 px cells; the input layer explained.
  assert.deepEqual(e.featureSize, [8, 8]);
  assert.match(e.layer, /^input/, 'the layer named is the model input');
  assert.equal(e.score, 'log-odds');
  t.diagnostic(`pointing game, occlusion: ${game.hits}/${game.correct}`);
  assert.ok(game.hits / game.correct >= 0.8, `pointing game, occlusion ${game.hits}/${game.correct}`);
  // The same image gets the same map (the fill's draws are seeded by the image).
  const again = await explain(runDir, [testFiles[0]], { method: 'occlusion' });
  assert.deepEqual(again[0].heatmap, e.heatmap);
  // A flat patch (its mean colour) is an option; a layer or the logit do not apply to occlusion.
  const flat = await explain(runDir, [testFiles[0]], { method: 'occlusion', occlusion: { fill: 'mean', patch: 0.5 } });
  assert.deepEqual(flat[0].featureSize, [4, 4], '32 px patches moved by 16 px: 4 x 4 cells');
  await assert.rejects(explain(runDir, [testFiles[0]], { method: 'occlusion', layer: 'conv3' }), /occlusion hides parts of the input image and explains no layer/);
  await assert.rejects(explain(runDir, [testFiles[0]], { method: 'occlusion', score: 'logit' }), /'logit' needs a Grad-CAM method/);
});

test('camLayer on mobilenet_v2: out_relu at 224 px (7 x 7), block_13_expand_relu below (the last stride-16 block, skipping its padding layer)', () => {
  for (const [size, expected] of [[224, 'out_relu'], [128, 'block_13_expand_relu'], [32, 'block_13_expand_relu']] as const) {
    const { model } = buildClassifier({ backbone: 'mobilenet_v2', backboneOptions: { inputShape: [size, size, 3], alpha: 0.35 }, head: 'gap', classes: 2, classMode: 'sparse' });
    try {
      assert.equal(lastConvolutionalLayer(model), 'out_relu');
      assert.equal(camLayer(model), expected, `at ${size} px`);
    } finally {
      model.dispose();
    }
  }
});
