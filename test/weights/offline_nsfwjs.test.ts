// Proof that tlkit's backbones load the nsfwjs weights right: tlkit's backbone + the nsfwjs head
// (rebuilt here in tfjs-layers, weights from the package) reproduce the package's own model, loaded
// with tfjs from the package's files (tfjs dequantises it, independently of tlkit), on real images.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { listBackbones, getBackbone } from '../../src/models/zoo.js';
import { readNsfwjsModel, loadOfflineWeights, offlineBackboneWeights, type NsfwjsVariant } from '../../src/weights/offline.js';
import { WeightsError } from '../../src/core/errors.js';

const SAMPLES = new URL('../../samples/fashion-shoes/test/', import.meta.url).pathname;

/** Two Fashion-MNIST photos (grey) and one colour image sharp draws, resized as nsfwjs does and scaled to [0, 1]. */
async function images(size: number): Promise<tf.Tensor4D> {
  const files = ['sandal', 'sneaker'].map((c) => join(SAMPLES, c, readdirSync(join(SAMPLES, c)).sort()[0]!));
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">` +
      `<stop offset="0" stop-color="#3a6ea5"/><stop offset="1" stop-color="#f4d35e"/></linearGradient></defs>` +
      `<rect width="100%" height="100%" fill="url(#g)"/><circle cx="${size * 0.4}" cy="${size * 0.55}" r="${size * 0.22}" fill="#8c2f39"/>` +
      `<rect x="${size * 0.6}" y="${size * 0.15}" width="${size * 0.25}" height="${size * 0.5}" fill="#2e4a2e"/></svg>`,
  );
  const inputs = [...files.map((f) => sharp(f)), sharp(svg).blur(1.5)];
  const pixels = await Promise.all(inputs.map((s) => s.resize(size, size, { kernel: 'linear', fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer()));
  return tf.tidy(() => tf.stack(pixels.map((p) => tf.div(tf.tensor3d(Float32Array.from(p), [size, size, 3]), 255))) as tf.Tensor4D);
}

async function referenceModel(variant: NsfwjsVariant): Promise<tfl.LayersModel> {
  const m = readNsfwjsModel(variant);
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: m.modelTopology as unknown as tf.io.ModelJSON['modelTopology'], weightSpecs: m.weightSpecs, weightData: m.weightData }));
}

/** nsfwjs's head on top of tlkit's backbone, head weights copied from the package by layer name. */
function tlkitWithNsfwjsHead(backbone: tfl.LayersModel, variant: NsfwjsVariant, poolSize: number): tfl.LayersModel {
  let x = tfl.layers.averagePooling2d({ poolSize, strides: poolSize, name: 'average_pooling2d_head' }).apply(backbone.outputs[0]!) as tfl.SymbolicTensor;
  x = tfl.layers.flatten({ name: 'flatten_1' }).apply(x) as tfl.SymbolicTensor;
  const dense1 = tfl.layers.dense({ units: 256, activation: 'relu', name: 'dense_1' });
  x = tfl.layers.dropout({ rate: 0.5 }).apply(dense1.apply(x)) as tfl.SymbolicTensor;
  const dense2 = tfl.layers.dense({ units: 128, activation: 'relu', name: 'dense_2' });
  x = tfl.layers.dropout({ rate: 0.25 }).apply(dense2.apply(x)) as tfl.SymbolicTensor;
  const dense3 = tfl.layers.dense({ units: 5, activation: 'softmax', name: 'dense_3' });
  const out = dense3.apply(x) as tfl.SymbolicTensor;
  const stored = readNsfwjsModel(variant).layers;
  for (const layer of [dense1, dense2, dense3]) {
    const weights = stored.find((l) => l.name === layer.name)!.weights;
    layer.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
  }
  return tfl.model({ inputs: backbone.inputs, outputs: out });
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

before(async () => {
  await initEngine();
});

const CASES: { id: string; variant: NsfwjsVariant; size: number; lastLayer: string; pool: number }[] = [
  { id: 'mobilenet_v2', variant: 'mobilenet_v2', size: 224, lastLayer: 'out_relu', pool: 7 },
  { id: 'inception_v3', variant: 'inception_v3', size: 299, lastLayer: 'mixed10', pool: 8 },
];

for (const c of CASES) {
  test(`tlkit ${c.id} + nsfwjs head reproduces the nsfwjs model within 1e-4`, async (t) => {
    if (!listBackbones().some((b) => b.id === c.id)) {
      t.skip(`backbone ${c.id} is not registered in this tree yet`);
      return;
    }
    const backbone = getBackbone(c.id).build({ includeTop: false, inputShape: [c.size, c.size, 3] });
    const result = loadOfflineWeights(backbone, 'nsfwjs', c.id);
    assert.equal(result.weightsLoaded, offlineBackboneWeights('nsfwjs', c.id).layers.reduce((n, l) => n + l.weights.length, 0));
    const ours = tlkitWithNsfwjsHead(backbone, c.variant, c.pool);
    const reference = await referenceModel(c.variant);
    const referenceFeatures = tfl.model({ inputs: reference.inputs, outputs: reference.getLayer(c.lastLayer).output as tfl.SymbolicTensor });

    const x = await images(c.size);
    const [featOurs, featRef, probOurs, probRef] = [backbone.predict(x), referenceFeatures.predict(x), ours.predict(x), reference.predict(x)] as tf.Tensor[];
    const featureDiff = maxAbsDiff(featOurs!, featRef!);
    const probDiff = maxAbsDiff(probOurs!, probRef!);
    t.diagnostic(`${c.id}: max |features diff| ${featureDiff.toExponential(2)}, max |probability diff| ${probDiff.toExponential(2)}`);
    assert.ok(featureDiff < 1e-4, `features differ by ${featureDiff}`);
    assert.ok(probDiff < 1e-4, `probabilities differ by ${probDiff}`);
    // The images are not all alike to the model: a constant output would make the comparison weak.
    const p = probRef!.arraySync() as number[][];
    assert.ok(maxAbsDiff(tf.tensor(p[0]!), tf.tensor(p[2]!)) > 1e-3);
    tf.dispose([x, featOurs!, featRef!, probOurs!, probRef!]);
  });
}

test('offline weights for a backbone the source lacks, or an unknown source, are WeightsErrors', () => {
  assert.throws(() => offlineBackboneWeights('nsfwjs', 'resnet50'), (e: Error) => e instanceof WeightsError && /no weights for backbone 'resnet50'.*mobilenet_v2, inception_v3/.test(e.message));
  assert.throws(() => offlineBackboneWeights('nope', 'mobilenet_v2'), /Unknown offline weights source 'nope'. Offline sources: nsfwjs/);
});
