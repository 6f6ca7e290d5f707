// ImageDataGenerator's tensor-level API (Keras's methods), fit, flow().
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { initEngine, tf } from '../../src/engines/tfjs/tf.js';
import { ImageDataGenerator } from '../../src/data/image_data_generator.js';
import { Random } from '../../src/core/random.js';
import { DataError } from '../../src/core/errors.js';

const ref = JSON.parse(readFileSync(new URL('../fixtures/data/reference.json', import.meta.url), 'utf8'));

before(async () => {
  await initEngine();
});

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > tol * Math.max(1, Math.abs(b[i]))) return false;
  return true;
}

test('getRandomTransform draws within the configured ranges; a seed reproduces it', () => {
  const gen = new ImageDataGenerator({ rotationRange: 20, widthShiftRange: 0.1, heightShiftRange: 5.5, shearRange: 10, zoomRange: [0.8, 1.2], channelShiftRange: 30, horizontalFlip: true, verticalFlip: true, brightnessRange: [0.5, 1.5] });
  let flips = 0;
  for (let s = 0; s < 200; s++) {
    const p = gen.getRandomTransform([100, 200, 3], s);
    assert.ok(Math.abs(p.theta!) <= 20);
    assert.ok(Math.abs(p.tx!) <= 0.1 * 200, 'width fraction times the width');
    assert.ok(Math.abs(p.ty!) <= 5.5, 'height in pixels (>= 1)');
    assert.ok(Math.abs(p.shear!) <= 10);
    assert.ok(p.zx! >= 0.8 && p.zx! <= 1.2 && p.zy! >= 0.8 && p.zy! <= 1.2);
    assert.ok(Math.abs(p.channelShiftIntensity!) <= 30);
    assert.ok(p.brightness! >= 0.5 && p.brightness! <= 1.5);
    if (p.flipHorizontal) flips++;
  }
  assert.ok(flips > 60 && flips < 140, `about half flipped: ${flips}`);
  assert.deepEqual(gen.getRandomTransform([10, 10, 3], 9), gen.getRandomTransform([10, 10, 3], 9));
  assert.deepEqual(gen.getRandomTransform([10, 10, 3], new Random(4)), gen.getRandomTransform([10, 10, 3], new Random(4)));
  // Keras's int shift: integer pixels in (-n, n); list: one of the values with a random sign.
  const ints = new ImageDataGenerator({ widthShiftRange: 3, heightShiftRange: [0.25, 0.5] });
  for (let s = 0; s < 50; s++) {
    const p = ints.getRandomTransform([8, 40, 3], s);
    assert.ok(Number.isInteger(p.tx) && Math.abs(p.tx!) < 3);
    assert.ok([2, 4].includes(Math.abs(p.ty!)), `ty ${p.ty}`);
  }
});

test('applyTransform on a tensor equals the kernels (scipy reference), without leaking', () => {
  const gen = new ImageDataGenerator({ fillMode: 'reflect', interpolationOrder: 1 });
  const c = ref.affine.find((a: { fillMode: string; order: number }) => a.fillMode === 'reflect' && a.order === 1);
  const x = tf.tensor3d(ref.image.data, ref.image.shape);
  const before = tf.memory().numTensors;
  const y = gen.applyTransform(x, c.params);
  assert.ok(close(y.dataSync(), c.output, 2e-5));
  y.dispose();
  const r = gen.randomTransform(x, 3);
  r.dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});

test('standardize follows Keras order: preprocessingFunction, rescale, samplewise, featurewise', () => {
  const gen = new ImageDataGenerator({ samplewiseCenter: true, samplewiseStdNormalization: true, preprocessingFunction: (t) => tf.mul(t, 2) as tf.Tensor3D, rescale: 0.5 });
  const x = tf.tensor3d(ref.image.data, ref.image.shape);
  const y = gen.standardize(x);
  assert.ok(close(y.dataSync(), ref.samplewise, 1e-4));
  tf.dispose([x, y]);
  const fw = new ImageDataGenerator({ featurewiseCenter: true, featurewiseStdNormalization: true });
  const warnings: string[] = [];
  const unfit = new ImageDataGenerator({ featurewiseCenter: true, onWarning: (m) => warnings.push(m) });
  const z = unfit.standardize(tf.tensor3d(ref.image.data, ref.image.shape));
  z.dispose();
  assert.match(warnings.join('\n'), /hasn't been fit on any training data/);
  fw.mean = Float32Array.from(ref.featurewise.mean);
  fw.std = Float32Array.from(ref.featurewise.std);
  const w = fw.standardize(tf.tensor3d(ref.image.data, ref.image.shape));
  assert.ok(close(w.dataSync(), ref.featurewise.output, 1e-5));
  w.dispose();
});

test('fit computes the featurewise mean, std and ZCA matrix as Keras', () => {
  const x = tf.tensor4d(ref.fit.data, ref.fit.shape);
  const gen = new ImageDataGenerator({ featurewiseCenter: true, featurewiseStdNormalization: true, rescale: ref.fit.rescale });
  gen.fit(x);
  assert.ok(close(gen.mean!, ref.fit.mean, 1e-5));
  assert.ok(close(gen.std!, ref.fit.std, 1e-4));
  const warnings: string[] = [];
  const zca = new ImageDataGenerator({ zcaWhitening: true, rescale: ref.fit.rescale, onWarning: (m) => warnings.push(m) });
  assert.equal(zca.options.featurewiseCenter, true, 'ZCA turns featurewise centring on, as Keras');
  assert.match(warnings[0], /zcaWhitening/);
  zca.fit(x);
  assert.ok(close(zca.principalComponents!, ref.fit.principalComponents, 2e-3));
  const first = tf.tensor3d(ref.fit.data.slice(0, 12), [2, 2, 3]);
  const white = zca.standardize(first);
  assert.ok(close(white.dataSync(), ref.fit.whitenedFirst, 1e-3));
  tf.dispose([x, first, white]);
});

test('ZCA on images too large for its D x D matrix fails before allocating, naming the size', () => {
  const gen = new ImageDataGenerator({ zcaWhitening: true });
  const x = tf.zeros([2, 224, 224, 3]) as tf.Tensor4D;
  assert.throws(
    () => gen.fit(x),
    (e: Error) => e instanceof DataError && /D = height\*width\*channels = 224\*224\*3 = 150528: 150528 x 150528 \(90\.6 GB as float32\)/.test(e.message),
  );
  x.dispose();
});

test('flow() batches in-memory images with labels, subsets and seeded augmentation', async () => {
  const n = 10;
  const x = tf.tidy(() => tf.mul(tf.randomUniform([n, 6, 5, 3], 0, 1, 'float32', 1), 255)) as tf.Tensor4D;
  const y = Array.from({ length: n }, (_, i) => i);
  const before = tf.memory().numTensors;
  const gen = new ImageDataGenerator({ validationSplit: 0.3, horizontalFlip: true, rotationRange: 10 });
  const train = gen.flow(x, y, { batchSize: 4, seed: 1, subset: 'training' });
  const val = gen.flow(x, y, { batchSize: 4, shuffle: false, subset: 'validation' });
  assert.equal(train.samples, 7);
  assert.equal(val.samples, 3);
  assert.equal(val.isDeterministic(), true);
  const vb = await val.next();
  assert.deepEqual([...vb.y!.dataSync()], [0, 1, 2]);
  assert.deepEqual([...vb.x.dataSync()], [...x.dataSync().slice(0, 3 * 6 * 5 * 3)]);
  const seen: number[] = [];
  const pixels: number[][] = [];
  for await (const b of train.epochBatches()) {
    assert.deepEqual([...b.y!.dataSync()], b.indices.map((i) => i + 3));
    seen.push(...b.indices);
    pixels.push([...b.x.dataSync()]);
    tf.dispose([b.x, b.y!]);
  }
  assert.deepEqual(seen.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6]);
  const again = gen.flow(x, y, { batchSize: 4, seed: 1, subset: 'training' });
  const first = await again.next();
  assert.deepEqual([...first.x.dataSync()], pixels[0]);
  tf.dispose([vb.x, vb.y!, first.x, first.y!]);
  await Promise.all([train.close(), val.close(), again.close()]);
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});
