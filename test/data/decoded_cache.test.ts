// DecodedCache: a per-iterator budget, one shared by every cache of the process, the spill to disk past
// the memory budget, and flowFromDirectory's batches with the spill, with readOnce, and dropped by readEachImageOnce.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DecodedCache } from '../../src/data/decoded_cache.js';
import { ImageDataGenerator } from '../../src/data/image_data_generator.js';
import { initEngine, tf } from '../../src/engines/tfjs/tf.js';
import { FeatureIterator } from '../../src/train/loop/feature_iterator.js';
import type { Batch, BatchIterator } from '../../src/data/batch.js';

let root: string;

async function writeImage(path: string, seed: number, w = 40, h = 30): Promise<void> {
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7 + seed * 31 + ((i / 3) | 0) * 3) % 256;
  await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(path);
}

async function makeDataset(dir: string, classes: Record<string, number>): Promise<void> {
  let seed = 0;
  for (const [name, count] of Object.entries(classes)) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < count; i++) await writeImage(join(dir, name, `img${String(i).padStart(2, '0')}.jpg`), seed++);
  }
}

async function drain(it: { epochBatches(): AsyncGenerator<{ x: tf.Tensor; y?: tf.Tensor; indices: number[] }> }) {
  const out: { indices: number[]; x: Float32Array }[] = [];
  for await (const b of it.epochBatches()) {
    out.push({ indices: b.indices, x: b.x.dataSync() as Float32Array });
    tf.dispose([b.x, b.y!]);
  }
  return out;
}

const augmenting = () => new ImageDataGenerator({ rotationRange: 20, widthShiftRange: 0.1, zoomRange: 0.1, horizontalFlip: true, rescale: 1 / 255 });
const image = (fill: number) => new Uint8Array(100).fill(fill);

before(async () => {
  await initEngine();
  root = mkdtempSync(join(tmpdir(), 'tlkit-decoded-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

test('caches keep images up to their own budget and, together, up to the process budget; clear gives the share back', () => {
  const a = new DecodedCache(1000, 1500, { spillBytes: 0 });
  const b = new DecodedCache(1000, 1500, { spillBytes: 0 });
  for (let i = 0; i < 20; i++) a.keep(i, image(i));
  assert.equal(a.size, 10, 'its own budget: 1000 bytes');
  for (let i = 0; i < 20; i++) b.keep(i, image(i));
  assert.equal(b.size, 5, 'what the process budget leaves: 500 bytes');
  assert.equal(b.get(4)?.length, 100);
  assert.equal(b.get(5), undefined);
  a.keep(3, image(3));
  assert.equal(a.size, 10, 'an index is kept once');
  a.clear();
  assert.equal(a.sizeBytes, 0);
  for (let i = 5; i < 20; i++) b.keep(i, image(i));
  assert.equal(b.size, 10, 'room again once the other cache is cleared');
  b.clear();
});

test('past the memory budget, records spill to one file, read back by position; the disk budget bounds it; close removes the file', async () => {
  const dir = mkdtempSync(join(root, 'spill-'));
  const cache = new DecodedCache(250, 250, { spillBytes: 500, spillDirectory: dir });
  for (let i = 0; i < 10; i++) cache.keep(i, image(i + 1));
  assert.equal(cache.sizeBytes, 200, 'two records in memory');
  assert.equal(cache.size, 7, 'two in memory, five on disk (500 bytes), the rest not kept');
  assert.equal(cache.hasRoom(100), false);
  for (let i = 0; i < 7; i++) assert.deepEqual(await cache.read(i), image(i + 1), `record ${i}`);
  assert.equal(await cache.read(8), undefined);
  assert.equal(cache.spill.samples, 5);
  assert.equal(cache.spill.bytes, 500);
  const file = cache.spill.path!;
  assert.deepEqual(readdirSync(dir), [file.slice(dir.length + 1)]);
  assert.ok(existsSync(file));
  await cache.close();
  assert.equal(existsSync(file), false, 'the spill file is removed on close');
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(cache.size, 0);
  assert.equal(await cache.read(3), undefined);
});

test('a cache past its memory budget with spilling off keeps nothing more (the old behaviour)', () => {
  const cache = new DecodedCache(100, 100, { spillBytes: 0 });
  cache.keep(0, image(1));
  cache.keep(1, image(2));
  assert.equal(cache.size, 1);
  assert.equal(cache.spill.path, null);
  cache.clear();
});

test('flowFromDirectory with a memory budget below one image spills every image: the same batches as decoding again, with 0 or 1 workers; the file is removed on close', async () => {
  const dir = join(root, 'ds');
  await makeDataset(dir, { a: 4, b: 3 });
  const spillDirectory = mkdtempSync(join(root, 'iterator-spill-'));
  const size = 12 * 12 * 3;
  const epochs = async (options: { cacheBytes?: number; workers?: number; cacheSpillBytes?: number }, change?: () => Promise<void>) => {
    const it = augmenting().flowFromDirectory(dir, { targetSize: [12, 12], batchSize: 3, seed: 5, cacheSpillDirectory: spillDirectory, ...options });
    const out = [await drain(it), await drain(it)];
    const stats = it.decodedCacheStats;
    await change?.();
    out.push(await drain(it), await drain(it));
    await it.close();
    return { out, stats };
  };
  const reference = await epochs({ cacheBytes: 0 });
  assert.equal(reference.stats.spilledSamples, 0);
  for (const workers of [0, 1]) {
    const spilled = await epochs({ cacheBytes: size - 1, workers });
    assert.equal(spilled.stats.memorySamples, 0, `workers ${workers}: nothing fits in memory`);
    assert.equal(spilled.stats.spilledSamples, 7, `workers ${workers}: every image spilled`);
    assert.equal(spilled.stats.spilledBytes, 7 * size);
    assert.deepEqual(spilled.out, reference.out, `workers ${workers}: batches identical to decoding again`);
    assert.deepEqual(readdirSync(spillDirectory), [], `workers ${workers}: spill file removed at close`);
  }
  // The spilled pixels are what later epochs use: a file changed after the second epoch is not read again.
  const changed = await epochs({ cacheBytes: size - 1, workers: 1 }, () => writeImage(join(dir, 'a', 'img00.jpg'), 500));
  assert.deepEqual(changed.out, reference.out);
  const reread = await epochs({ cacheBytes: 0 });
  assert.notDeepEqual(reread.out[3], reference.out[3], 'decoding again sees the changed file');
  // A disk budget of two images: two spilled, the rest decoded each epoch, batches still the same.
  const partial = await epochs({ cacheBytes: size - 1, cacheSpillBytes: 2 * size });
  assert.equal(partial.stats.spilledSamples, 2);
  assert.deepEqual(partial.out, reread.out);
  assert.throws(() => augmenting().flowFromDirectory(dir, { cacheSpillBytes: -1 }), /cacheSpillBytes/);
});

test('readOnce keeps no pixels; readEachImageOnce drops them and the spill file; a caching FeatureIterator calls it', async () => {
  const dir = join(root, 'once');
  await makeDataset(dir, { a: 2, b: 2 });
  const spillDirectory = mkdtempSync(join(root, 'once-spill-'));
  const once = new ImageDataGenerator().flowFromDirectory(dir, { targetSize: [12, 12], batchSize: 2, readOnce: true });
  await drain(once);
  assert.deepEqual(once.decodedCacheStats, { memorySamples: 0, memoryBytes: 0, spilledSamples: 0, spilledBytes: 0, spillPath: null });
  await once.close();

  const it = new ImageDataGenerator().flowFromDirectory(dir, { targetSize: [12, 12], batchSize: 2, shuffle: false, cacheBytes: 1, cacheSpillDirectory: spillDirectory });
  const first = await drain(it);
  assert.equal(it.decodedCacheStats.spilledSamples, 4);
  assert.equal(readdirSync(spillDirectory).length, 1);
  it.readEachImageOnce();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(readdirSync(spillDirectory), [], 'the spill file is removed');
  assert.equal(it.decodedCacheStats.spilledSamples, 0);
  assert.deepEqual(await drain(it), first, 'the same batches, decoded again');
  assert.equal(it.decodedCacheStats.memorySamples + it.decodedCacheStats.spilledSamples, 0, 'and none kept');
  it.readEachImageOnce(false);
  // Samples already prefetched when it was called are not kept: the epoch after is.
  assert.deepEqual(await drain(it), first);
  assert.deepEqual(await drain(it), first);
  assert.equal(it.decodedCacheStats.spilledSamples, 4, 'kept again once asked to');
  await it.close();
  assert.deepEqual(readdirSync(spillDirectory), []);

  let calls = 0;
  const inner: BatchIterator = { length: 1, next: async (): Promise<Batch> => ({ x: tf.zeros([1, 1]) }), reset: () => undefined, readEachImageOnce: () => void calls++ };
  const extractor = { features: async (x: tf.Tensor) => x.clone() };
  new FeatureIterator(inner, extractor, { cache: false });
  assert.equal(calls, 0, 'features not cached: pixels are read every epoch');
  new FeatureIterator(inner, extractor, { cache: true });
  assert.equal(calls, 1, 'features cached: each image is read once');
});
