// A small convnet with a GAP head (3 strided 3x3 convs and one more, 16 filters each, GAP, softmax Dense(2)) trained
// with tfjs model.fit on the bright-square set (240 images at 64 px), saved where bench/explain_maps.ts reads it:
// npx tsx bench/explain_small_gap.ts --keep /tmp/x/gap1 --seed 1 && npx tsx bench/explain_maps.ts --keep /tmp/x/gap1 --size 64 --seed 1 --test 100 --layers default,conv2
import { join } from 'node:path';
import { initEngine, tf, tfl } from '../src/engines/tfjs/tf.js';
import { saveModel } from '../src/weights/saved_model.js';
import { SQUARE_CLASSES, brightSquareSet } from '../test/helpers/bright_square_set.js';
import { flag, numberFlag } from './flags.js';
const SIZE = numberFlag('size', 64);
const SEED = numberFlag('seed', 1);
const DEPTH = numberFlag('depth', 4);
const EPOCHS = numberFlag('epochs', 10);
const STRIDED = numberFlag('strided', 3); // how many of the convs have stride 2
const TRAIN = numberFlag('train', 240);
const KEEP = flag('keep', '/tmp/x3/smallgap');
await initEngine();
const input = tfl.input({ shape: [SIZE, SIZE, 3] });
let h = input as tfl.SymbolicTensor;
for (let i = 0; i < DEPTH; i++) {
  h = tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: i < STRIDED ? 2 : 1, padding: 'same', activation: 'relu', name: `conv${i + 1}`, kernelInitializer: tfl.initializers.heNormal({ seed: 11 + i + SEED * 10 }) }).apply(h) as tfl.SymbolicTensor;
}
h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
const out = tfl.layers.dense({ units: 2, activation: 'softmax', name: 'predictions', kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 + SEED }) }).apply(h) as tfl.SymbolicTensor;
const model = tfl.model({ inputs: input, outputs: out });
const train = brightSquareSet(TRAIN, SIZE, SEED);
const x = tf.tensor4d(Float32Array.from(train.pixels, (v) => v / 255), [train.images.length, SIZE, SIZE, 3]);
const y = tf.tensor1d(train.images.map((im) => im.label), 'float32');
model.compile({ optimizer: tf.train.adam(3e-3), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
const t = performance.now();
const hist = await model.fit(x, y, { epochs: EPOCHS, batchSize: 32, shuffle: false, verbose: 0 });
console.log(`trained in ${((performance.now() - t) / 1000).toFixed(1)} s, acc ${hist.history.acc?.at(-1) ?? hist.history.accuracy?.at(-1)}`);
await saveModel(join(KEEP, 'run', 'model'), model, { classNames: [...SQUARE_CLASSES], classMode: 'sparse', preprocess: 'none', rescale: 1 / 255, inputSize: [SIZE, SIZE], backbone: 'small_convnet', weightsSource: 'none' });
