// Once a FeatureIterator has cached every sample's features, its epochs read no image files (the
// epoch then costs only the head's work), yield the same features and labels in the same order as
// reading would, and the shared image iterator still gives pixels to anyone else.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initEngine } from '../../../src/engines/tfjs/tf.js';
import { ImageDataGenerator } from '../../../src/data/image_data_generator.js';
import { FeatureIterator } from '../../../src/train/loop/feature_iterator.js';
import { writeSquaresFolder } from '../helpers.js';

before(async () => {
  await initEngine();
});

test('FeatureIterator with a complete cache stops decoding images; the inner iterator still reads for others', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'tlkit-feature-reads-'));
  await writeSquaresFolder(dir, 12, 16, 3);
  const inner = new ImageDataGenerator({ rescale: 1 / 255 }).flowFromDirectory(dir, { targetSize: [16, 16], batchSize: 5, seed: 4, classMode: 'sparse' });
  let loads = 0;
  const load = (inner as unknown as { loadSample: (...a: unknown[]) => Promise<unknown> }).loadSample.bind(inner);
  (inner as unknown as { loadSample: (...a: unknown[]) => Promise<unknown> }).loadSample = (...a: unknown[]) => {
    loads++;
    return load(...a);
  };
  // A stand-in extractor: the per-image mean of each channel.
  const features = new FeatureIterator(inner, { features: async (x) => tf.mean(x, [1, 2]) }, { cache: true });
  const epoch = async () => {
    const out: { indices: number[]; x: number[]; y: number[] }[] = [];
    for await (const b of features.epochBatches!()) {
      out.push({ indices: b.indices!, x: Array.from(await b.x.data()), y: Array.from(await b.y!.data()) });
      tf.dispose([b.x, b.y!]);
    }
    return out;
  };
  const first = await epoch();
  assert.ok(loads >= 12, `${loads} reads (12 + the next epoch's prefetch)`);
  loads = 0;
  const second = await epoch();
  assert.equal(loads, 0, 'no image read once every feature is cached');
  assert.equal(features.stats.hits, 12);
  // Same samples, labels and features as the first epoch (by sample index: the order is reshuffled).
  const bySample = (batches: typeof first) => {
    const m = new Map<number, { x: number[]; y: number }>();
    for (const b of batches) b.indices.forEach((s, i) => m.set(s, { x: b.x.slice(i * 3, i * 3 + 3), y: b.y[i] }));
    return m;
  };
  const a = bySample(first);
  const b = bySample(second);
  assert.equal(b.size, 12);
  for (const [s, v] of a) {
    assert.equal(b.get(s)!.y, v.y);
    v.x.forEach((f, k) => assert.ok(Math.abs(b.get(s)!.x[k] - f) < 1e-6));
  }
  // The order and state advanced as if the images had been read: the second epoch is reshuffled.
  assert.notDeepEqual(first.map((e) => e.indices), second.map((e) => e.indices));
  // Someone else pulling from the same image iterator gets pixels (prefetched placeholders are read then).
  const plain = await inner.next();
  assert.deepEqual(plain.x.shape, [5, 16, 16, 3]);
  assert.ok((await plain.x.data()).some((v) => v > 0));
  tf.dispose([plain.x, plain.y!]);
  await inner.close();
});
