// flowFromDirectory: Keras's listing and labels, determinism across worker counts, resume, leaks, errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initEngine, tf } from '../../src/engines/tfjs/tf.js';
import { ImageDataGenerator } from '../../src/data/image_data_generator.js';
import { preprocessInput } from '../../src/data/preprocess_input.js';
import { DataError, FileError, UsageError } from '../../src/core/errors.js';

let root: string;

async function writeImage(path: string, seed: number, w = 40, h = 30, format: 'jpeg' | 'png' = 'jpeg'): Promise<void> {
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7 + seed * 31 + ((i / 3) | 0) * 3) % 256;
  const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
  await (format === 'png' ? img.png() : img.jpeg({ quality: 90 })).toFile(path);
}

async function makeDataset(dir: string, classes: Record<string, number>): Promise<void> {
  let seed = 0;
  for (const [name, count] of Object.entries(classes)) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < count; i++) await writeImage(join(dir, name, `img${String(i).padStart(2, '0')}.jpg`), seed++);
  }
}

before(async () => {
  await initEngine();
  root = mkdtempSync(join(tmpdir(), 'tlkit-flow-'));
  await makeDataset(join(root, 'ds'), { dogs: 6, cats: 5 });
  // Recursion, case-insensitive extensions, non-images ignored.
  mkdirSync(join(root, 'ds', 'cats', 'sub'), { recursive: true });
  await writeImage(join(root, 'ds', 'cats', 'sub', 'deep.PNG'), 99, 40, 30, 'png');
  await writeImage(join(root, 'ds', 'cats', 'Upper.JPG'), 98);
  writeFileSync(join(root, 'ds', 'cats', 'notes.txt'), 'not an image');
});

after(() => rmSync(root, { recursive: true, force: true }));

const augmenting = () =>
  new ImageDataGenerator({ rotationRange: 20, widthShiftRange: 0.1, heightShiftRange: 0.1, shearRange: 0.1, zoomRange: 0.1, horizontalFlip: true, brightnessRange: [0.8, 1.2], rescale: 1 / 255 });

async function drain(it: { epochBatches(): AsyncGenerator<{ x: tf.Tensor; y?: tf.Tensor; indices: number[] }> }) {
  const out: { indices: number[]; x: Float32Array; y?: Float32Array }[] = [];
  for await (const b of it.epochBatches()) {
    out.push({ indices: b.indices, x: b.x.dataSync() as Float32Array, y: b.y?.dataSync() as Float32Array | undefined });
    b.x.dispose();
    b.y?.dispose();
  }
  return out;
}

test('lists classes and files like Keras: sorted, recursive, case-insensitive extensions', () => {
  const it = new ImageDataGenerator().flowFromDirectory(join(root, 'ds'), { targetSize: [16, 16] });
  assert.deepEqual(it.classNames, ['cats', 'dogs']);
  assert.deepEqual(it.classIndices, { cats: 0, dogs: 1 });
  assert.equal(it.samples, 13);
  assert.deepEqual(it.filenames.slice(0, 7), ['cats/Upper.JPG', 'cats/img00.jpg', 'cats/img01.jpg', 'cats/img02.jpg', 'cats/img03.jpg', 'cats/img04.jpg', 'cats/sub/deep.PNG']);
  assert.equal(it.filepaths[0], join(root, 'ds', 'cats', 'Upper.JPG'));
  assert.deepEqual([...it.classes], [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  assert.equal(it.batchSize, 32);
  assert.equal(it.length, 1);
});

test('hidden folders and files are left out and counted: .ipynb_checkpoints is no class, its copies no data, ._ files no images', async () => {
  const ds = join(root, 'hidden');
  await makeDataset(ds, { dogs: 2, cats: 2 });
  mkdirSync(join(ds, '.ipynb_checkpoints'));
  mkdirSync(join(ds, 'cats', '.ipynb_checkpoints'));
  await writeImage(join(ds, 'cats', '.ipynb_checkpoints', 'img00-checkpoint.jpg'), 7);
  writeFileSync(join(ds, 'dogs', '._img00.jpg'), Buffer.from([0, 5, 22, 7, 0, 2, 0, 0]));
  // Not hidden, not Keras's extensions: left out too, and counted by extension.
  writeFileSync(join(ds, 'dogs', 'notes.TXT'), 'x');
  writeFileSync(join(ds, 'dogs', 'README'), 'x');
  await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).webp().toFile(join(ds, 'cats', 'photo.webp'));
  await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).webp().toFile(join(ds, 'cats', 'photo2.WEBP'));
  const it = new ImageDataGenerator().flowFromDirectory(ds, { targetSize: [16, 16] });
  assert.deepEqual(it.classNames, ['cats', 'dogs']);
  assert.deepEqual(it.filenames, ['cats/img00.jpg', 'cats/img01.jpg', 'dogs/img00.jpg', 'dogs/img01.jpg']);
  assert.equal(it.hidden, 3);
  assert.deepEqual(it.otherFiles, { '.webp': 2, '.txt': 1, '': 1 });
  const { otherFilesNote, addOtherFiles } = await import('../../src/data/scan_directory.js');
  assert.equal(
    otherFilesNote(addOtherFiles(it.otherFiles, { '.webp': 1 })),
    "ignored 5 files in the class folders by extension (.webp 3, (no extension) 1, .txt 1); .webp images are not read (Keras's extensions: png, jpg, jpeg, bmp, ppm, tif, tiff): convert them to PNG or JPEG to use them",
  );
  assert.equal(otherFilesNote({}), undefined);
  // Named explicitly, a hidden folder is read; predict's folder walk skips hidden entries too.
  const named = new ImageDataGenerator().flowFromDirectory(join(ds, 'cats'), { targetSize: [16, 16], classes: ['.ipynb_checkpoints'] });
  assert.deepEqual(named.filenames, ['.ipynb_checkpoints/img00-checkpoint.jpg']);
  const { listImageFiles } = await import('../../src/inference/predict.js');
  // (and reads WebP there: a folder to classify is not a training set whose counts must match Keras's)
  assert.deepEqual((await listImageFiles([ds])).map((f) => f.slice(ds.length + 1)), ['cats/img00.jpg', 'cats/img01.jpg', 'cats/photo.webp', 'cats/photo2.WEBP', 'dogs/img00.jpg', 'dogs/img01.jpg']);
});

test('validationSplit takes the first fraction of each class; validation is not augmented by default', () => {
  const gen = new ImageDataGenerator({ validationSplit: 0.34, horizontalFlip: true });
  const val = gen.flowFromDirectory(join(root, 'ds'), { targetSize: [16, 16], subset: 'validation' });
  const train = gen.flowFromDirectory(join(root, 'ds'), { targetSize: [16, 16], subset: 'training' });
  // cats: 7 files -> floor(0.34*7) = 2; dogs: 6 -> 2
  assert.deepEqual(val.filenames, ['cats/Upper.JPG', 'cats/img00.jpg', 'dogs/img00.jpg', 'dogs/img01.jpg']);
  assert.equal(train.samples, 9);
  assert.equal(val.isDeterministic(), true);
  assert.equal(train.isDeterministic(), false);
  const keras = gen.flowFromDirectory(join(root, 'ds'), { targetSize: [16, 16], subset: 'validation', augmentValidation: true });
  assert.equal(keras.isDeterministic(), false);
  assert.equal(gen.isDeterministic(), false);
  assert.equal(new ImageDataGenerator({ rescale: 1 / 255 }).isDeterministic(), true);
});

test('labels per classMode and batch shapes', async () => {
  const gen = new ImageDataGenerator({ rescale: 1 / 255 });
  const dir = join(root, 'ds');
  const cat = gen.flowFromDirectory(dir, { targetSize: [12, 10], batchSize: 5, shuffle: false });
  const b = await cat.next();
  assert.deepEqual(b.x.shape, [5, 12, 10, 3]);
  assert.deepEqual(b.y!.shape, [5, 2]);
  assert.deepEqual([...b.y!.dataSync()], [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
  const xs = b.x.dataSync();
  assert.ok(xs.every((v) => v >= 0 && v <= 1), 'rescaled to [0, 1]');
  tf.dispose([b.x, b.y!]);
  for (const mode of ['binary', 'sparse'] as const) {
    const it = gen.flowFromDirectory(dir, { targetSize: [8, 8], batchSize: 13, shuffle: false, classMode: mode });
    const batch = await it.next();
    assert.deepEqual(batch.y!.shape, [13]);
    assert.equal(batch.y!.dtype, 'float32');
    assert.deepEqual([...batch.y!.dataSync()], [...it.classes]);
    tf.dispose([batch.x, batch.y!]);
  }
  const input = await gen.flowFromDirectory(dir, { targetSize: [8, 8], classMode: 'input', batchSize: 3 }).next();
  assert.deepEqual([...input.y!.dataSync()], [...input.x.dataSync()]);
  tf.dispose([input.x, input.y!]);
  const none = await gen.flowFromDirectory(dir, { targetSize: [8, 8], classMode: null, batchSize: 3 }).next();
  assert.equal(none.y, undefined);
  none.x.dispose();
  const gray = await gen.flowFromDirectory(dir, { targetSize: [8, 8], colorMode: 'grayscale', batchSize: 2 }).next();
  assert.deepEqual(gray.x.shape, [2, 8, 8, 1]);
  gray.x.dispose();
  gray.y?.dispose();
  const rgba = await gen.flowFromDirectory(dir, { targetSize: [8, 8], colorMode: 'rgba', batchSize: 2 }).next();
  assert.deepEqual(rgba.x.shape, [2, 8, 8, 4]);
  rgba.x.dispose();
  rgba.y?.dispose();
});

test('epochs: last batch smaller, every sample once, reshuffled per epoch', async () => {
  const it = new ImageDataGenerator().flowFromDirectory(join(root, 'ds'), { targetSize: [8, 8], batchSize: 5, seed: 3 });
  assert.equal(it.length, 3);
  const e1 = await drain(it);
  const e2 = await drain(it);
  assert.deepEqual(e1.map((b) => b.indices.length), [5, 5, 3]);
  assert.deepEqual(e1.flatMap((b) => b.indices).sort((a, b) => a - b), [...Array(13).keys()]);
  assert.notDeepEqual(e1.flatMap((b) => b.indices), e2.flatMap((b) => b.indices));
});

test('same seed gives the same batches, order and pixels, with 0, 1 or 2 workers', async () => {
  const results = [];
  for (const workers of [0, 2, 1]) {
    const it = augmenting().flowFromDirectory(join(root, 'ds'), { targetSize: [24, 24], batchSize: 4, seed: 42, workers });
    results.push(await drain(it));
    await it.close();
  }
  assert.deepEqual(results[1].map((b) => b.indices), results[0].map((b) => b.indices));
  for (let i = 0; i < results[0].length; i++) {
    assert.deepEqual(results[1][i].x, results[0][i].x, `batch ${i}, 2 workers`);
    assert.deepEqual(results[2][i].x, results[0][i].x, `batch ${i}, 1 worker`);
  }
  const other = await drain(augmenting().flowFromDirectory(join(root, 'ds'), { targetSize: [24, 24], batchSize: 4, seed: 43 }));
  assert.notDeepEqual(other[0].x, results[0][0].x);
});

test('getState/setState resumes mid-epoch with the same order and augmentation', async () => {
  const opts = { targetSize: [16, 16] as [number, number], batchSize: 3, seed: 7 };
  const a = augmenting().flowFromDirectory(join(root, 'ds'), opts);
  const first = await a.next();
  tf.dispose([first.x, first.y!]);
  const state = JSON.parse(JSON.stringify(a.getState()));
  const rest = [];
  for (let i = 0; i < 6; i++) {
    const b = await a.next();
    rest.push({ indices: b.indices, x: b.x.dataSync() });
    tf.dispose([b.x, b.y!]);
  }
  const resumed = augmenting().flowFromDirectory(join(root, 'ds'), opts);
  resumed.setState(state);
  for (let i = 0; i < 6; i++) {
    const b = await resumed.next();
    assert.deepEqual(b.indices, rest[i].indices, `batch ${i} order`);
    assert.deepEqual(b.x.dataSync(), rest[i].x, `batch ${i} pixels`);
    tf.dispose([b.x, b.y!]);
  }
  assert.throws(() => augmenting().flowFromDirectory(join(root, 'ds'), { ...opts, seed: 8 }).setState(state), UsageError);
});

test('no tensor leaks across an epoch', async () => {
  const it = augmenting().flowFromDirectory(join(root, 'ds'), { targetSize: [16, 16], batchSize: 4, seed: 1, classMode: 'categorical' });
  await drain(it); // warm-up: backend-internal tensors
  const before = tf.memory().numTensors;
  await drain(it);
  assert.equal(tf.memory().numTensors, before);
});

test('preprocessingFunction runs on 0-255 values before rescale (Keras order)', async () => {
  const dir = join(root, 'ds');
  const plain = await new ImageDataGenerator().flowFromDirectory(dir, { targetSize: [8, 8], batchSize: 2, shuffle: false }).next();
  const gen = new ImageDataGenerator({ preprocessingFunction: preprocessInput('tf'), rescale: 2 });
  const pre = await gen.flowFromDirectory(dir, { targetSize: [8, 8], batchSize: 2, shuffle: false }).next();
  const p = plain.x.dataSync();
  const q = pre.x.dataSync();
  for (let i = 0; i < p.length; i += 17) assert.ok(Math.abs(q[i] - (p[i] / 127.5 - 1) * 2) < 1e-5);
  // A plain tensor function (no fast path) gives the same.
  const viaTensor = new ImageDataGenerator({ preprocessingFunction: (x) => tf.sub(tf.div(x, 127.5), 1) as tf.Tensor3D, rescale: 2 });
  const r = await viaTensor.flowFromDirectory(dir, { targetSize: [8, 8], batchSize: 2, shuffle: false }).next();
  const rv = r.x.dataSync();
  for (let i = 0; i < q.length; i++) assert.ok(Math.abs(rv[i] - q[i]) < 1e-5);
  tf.dispose([plain.x, plain.y!, pre.x, pre.y!, r.x, r.y!]);
});

test('saveToDir writes each sample of a batch', async () => {
  const out = join(root, 'saved');
  const it = augmenting().flowFromDirectory(join(root, 'ds'), { targetSize: [16, 16], batchSize: 3, seed: 5, saveToDir: out, savePrefix: 'aug', saveFormat: 'png' });
  const b = await it.next();
  tf.dispose([b.x, b.y!]);
  const { readdirSync } = await import('node:fs');
  const files = readdirSync(out);
  assert.equal(files.length, 3);
  assert.ok(files.every((f) => /^aug_\d+_\d+\.png$/.test(f)), files.join(', '));
});

test('clear errors: missing dir, no class folders, empty class, binary with 3 classes, bad options', async () => {
  const gen = new ImageDataGenerator();
  assert.throws(() => gen.flowFromDirectory(join(root, 'nope')), (e: Error) => e instanceof FileError && /directory not found/.test(e.message));
  mkdirSync(join(root, 'flat'), { recursive: true });
  await writeImage(join(root, 'flat', 'a.jpg'), 1);
  assert.throws(() => gen.flowFromDirectory(join(root, 'flat')), (e: Error) => e instanceof DataError && /no class folders/.test(e.message));
  mkdirSync(join(root, 'emptyclass', 'a'), { recursive: true });
  mkdirSync(join(root, 'emptyclass', 'b'), { recursive: true });
  await writeImage(join(root, 'emptyclass', 'a', 'x.jpg'), 1);
  assert.throws(() => gen.flowFromDirectory(join(root, 'emptyclass')), (e: Error) => e instanceof DataError && /class 'b' has no images/.test(e.message));
  // A class folder of images in a format Keras's extensions leave out says what it holds.
  await sharp({ create: { width: 8, height: 8, channels: 3, background: '#0f0' } }).webp().toFile(join(root, 'emptyclass', 'b', 'y.webp'));
  assert.throws(() => gen.flowFromDirectory(join(root, 'emptyclass')), (e: Error) => e instanceof DataError && /class 'b' has no images .*it holds \.webp 1: convert the images to PNG or JPEG/.test(e.message));
  await makeDataset(join(root, 'three'), { a: 1, b: 1, c: 1 });
  assert.throws(() => gen.flowFromDirectory(join(root, 'three'), { classMode: 'binary' }), (e: Error) => e instanceof DataError && /exactly 2 classes; found 3: a, b, c/.test(e.message));
  assert.equal(gen.flowFromDirectory(join(root, 'three'), { classMode: 'binary', classes: ['a', 'c'] }).samples, 2);
  assert.throws(() => gen.flowFromDirectory(join(root, 'ds'), { classMode: 'multi' as never }), /classMode.*Received: classMode="multi"/);
  assert.throws(() => gen.flowFromDirectory(join(root, 'ds'), { subset: 'validation' }), /validationSplit/);
  assert.throws(() => new ImageDataGenerator({ fillMode: 'mirror' as never }), /fillMode.*constant, nearest, reflect, wrap.*Received: fillMode="mirror"/);
  assert.throws(() => new ImageDataGenerator({ zoomRange: [1] as never }), /zoomRange/);
  assert.throws(() => new ImageDataGenerator({ brightnessRange: [0.5] as never }), /brightnessRange/);
});

test('next() calls without await are served one after the other, in order', async () => {
  const it = new ImageDataGenerator().flowFromDirectory(join(root, 'ds'), { targetSize: [8, 8], batchSize: 4, shuffle: false });
  const batches = await Promise.all([it.next(), it.next(), it.next(), it.next()]);
  assert.deepEqual(batches.map((b) => b.indices), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12]]);
  for (const b of batches) tf.dispose([b.x, b.y!]);
});

test('without augmentation, decoded pixels are kept between epochs: the same batches, files read once', async () => {
  const dir = join(root, 'cached');
  await makeDataset(dir, { a: 3, b: 3 });
  const byIndex = (batches: Awaited<ReturnType<typeof drain>>, size: number) => {
    const rows = new Map<number, number[]>();
    for (const b of batches) b.indices.forEach((index, r) => rows.set(index, [...b.x.subarray(r * size, (r + 1) * size)]));
    return rows;
  };
  const size = 12 * 12 * 3;
  const cached = new ImageDataGenerator({ rescale: 1 / 255 }).flowFromDirectory(dir, { targetSize: [12, 12], batchSize: 4, seed: 3 });
  const uncached = new ImageDataGenerator({ rescale: 1 / 255 }).flowFromDirectory(dir, { targetSize: [12, 12], batchSize: 4, seed: 3, cacheBytes: 0 });
  const first = byIndex(await drain(cached), size);
  const firstUncached = byIndex(await drain(uncached), size);
  assert.deepEqual(firstUncached, first);
  // The files change on disk after the first epoch. The next epoch's first samples are already
  // prefetched then, so the third epoch is the one that shows whether a file is read again.
  for (const name of ['a/img00.jpg', 'b/img02.jpg']) await writeImage(join(dir, name), 1000);
  await drain(cached);
  await drain(uncached);
  assert.deepEqual(byIndex(await drain(cached), size), first);
  const third = byIndex(await drain(uncached), size);
  assert.notDeepEqual(third.get(0), first.get(0), 'cacheBytes: 0 reads the changed file');
  assert.deepEqual(third.get(1), first.get(1));
  // A budget smaller than one image, with no spill to disk, caches nothing: a file broken after the first epoch is skipped.
  const tiny = new ImageDataGenerator().flowFromDirectory(dir, { targetSize: [12, 12], batchSize: 4, seed: 3, cacheBytes: size - 1, cacheSpillBytes: 0 });
  await drain(tiny);
  writeFileSync(join(dir, 'a', 'img01.jpg'), 'now broken');
  await drain(tiny);
  const after = await drain(tiny);
  assert.equal(after.reduce((n, b) => n + b.indices.length, 0), 5, 'the broken file is read again and skipped');
  assert.throws(() => new ImageDataGenerator().flowFromDirectory(dir, { cacheBytes: -1 }), /cacheBytes/);
  await Promise.all([cached.close(), uncached.close(), tiny.close()]);
});

test('with augmentation, later epochs transform the kept decoded pixels: the same batches as decoding again, with 0 or 1 workers', async () => {
  const dir = join(root, 'cached-augmented');
  await makeDataset(dir, { a: 4, b: 3 });
  const epochs = async (options: { cacheBytes?: number; workers?: number }, change?: () => Promise<void>) => {
    const it = augmenting().flowFromDirectory(dir, { targetSize: [12, 12], batchSize: 3, seed: 5, ...options });
    const out = [await drain(it), await drain(it)];
    await change?.();
    out.push(await drain(it), await drain(it));
    await it.close();
    return out;
  };
  const reference = await epochs({ cacheBytes: 0 });
  assert.notDeepEqual(reference[2], reference[3], 'each epoch draws new transforms');
  assert.deepEqual(await epochs({}), reference);
  assert.deepEqual(await epochs({ workers: 1 }), reference);
  // A file changed after the second epoch: with the cache its old pixels are still transformed.
  const changed = await epochs({ workers: 1 }, () => writeImage(join(dir, 'a', 'img00.jpg'), 500));
  assert.deepEqual(changed, reference);
  const reread = await epochs({ cacheBytes: 0 });
  assert.notDeepEqual(reread[3], reference[3]);
});
