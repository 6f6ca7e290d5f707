// Gradient check of the compiled ONNX training step against the tfjs engine for every zoo backbone
// (classifier = backbone + GAP + Dense(3, softmax), every layer trainable, random weights, batch 3),
// reported per backbone rather than asserted: with random weights, a few ReLU inputs land within ~1e-5
// of the kink, where float32 round-off (different in any two engines) decides the mask; one flipped
// element moves the gradients upstream of it by O(1e-2). Smooth (swish) nets show the pure round-off.
//
//   npx tsx bench/onnx_training_zoo.ts [backbone ...]
// Prints one line per backbone: loss (onnx vs tfjs), how many weight gradients agree within 1e-4 / 1e-3
// of the largest gradient of their tensor (max(1, scale)), the worst, and the first disagreeing weight
// counted from the output.
import { initEngine, tf } from '../src/engines/tfjs/tf.js';
import { buildClassifier } from '../src/models/classifier.js';
import { listBackbones } from '../src/models/zoo.js';
import { computeGradients } from '../src/engines/onnx/training/compile_training_step.js';
import { batchLoss } from '../src/inference/losses.js';
import { randomizeWeights, randomInput } from '../test/engines/onnx/parity.js';

const SIZES: Record<string, number> = { inception_v3: 139, xception: 139 };
await initEngine('wasm');
const ids = process.argv.slice(2).length ? process.argv.slice(2) : listBackbones().map((b) => b.id);
for (const id of ids) {
  const size = SIZES[id] ?? 64;
  const c = buildClassifier({ backbone: id, backboneOptions: { inputShape: [size, size, 3], weights: null }, classes: 3, classMode: 'categorical', head: 'gap' });
  const model = c.model;
  randomizeWeights(model, 5);
  // tfjs draws its own dropout noise; compare the deterministic network.
  for (const layer of model.layers) if (layer.getClassName() === 'Dropout') (layer as unknown as { rate: number }).rate = 0;
  const x = randomInput([3, size, size, 3], 6);
  const y = tf.cast(tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3), 'float32');
  let t = performance.now();
  const ours = await computeGradients(model, x, y, { loss: 'categorical_crossentropy' });
  const onnxMs = performance.now() - t;
  t = performance.now();
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => batchLoss('categorical_crossentropy', y, model.apply(x, { training: true }) as tf.Tensor), variables);
  const tfjsMs = performance.now() - t;
  let within4 = 0;
  let within3 = 0;
  let worst = 0;
  let worstName = '';
  let firstBad = '';
  const names = model.trainableWeights.map((w) => w.name);
  const errors = new Map<string, number>();
  for (const w of model.trainableWeights) {
    const expected = grads[(w.read() as tf.Variable).name].dataSync();
    const actual = ours.gradients.get(w.name)!;
    let scale = 0;
    let err = 0;
    for (let i = 0; i < expected.length; i++) {
      scale = Math.max(scale, Math.abs(expected[i]));
      err = Math.max(err, Math.abs(actual[i] - expected[i]));
    }
    const rel = err / Math.max(1, scale);
    errors.set(w.name, rel);
    if (rel <= 1e-4) within4++;
    if (rel <= 1e-3) within3++;
    if (rel > worst) [worst, worstName] = [rel, w.name];
  }
  for (const name of [...names].reverse()) {
    if (errors.get(name)! > 1e-4) {
      firstBad = name;
      break;
    }
  }
  console.log(
    `${id}@${size}: loss ${ours.loss.toFixed(6)} vs tfjs ${value.dataSync()[0].toFixed(6)}; ${names.length} gradients: ` +
      `${within4} within 1e-4, ${within3} within 1e-3; worst ${worst.toExponential(2)} (${worstName}); ` +
      `first > 1e-4 from the output: ${firstBad || 'none'}; onnx ${onnxMs.toFixed(0)} ms, tfjs ${tfjsMs.toFixed(0)} ms`,
  );
  tf.dispose([value, x, y, ...Object.values(grads)]);
  model.dispose();
}
