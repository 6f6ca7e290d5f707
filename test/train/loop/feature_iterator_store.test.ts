// FeatureIterator over feature stores: a partly filled store (a killed run) costs only the missing
// samples; an epoch over a complete store decodes no image and computes nothing; a record that turns out
// damaged while pixels are skipped is recomputed from pixels loaded for just that sample; every output of
// the extractor lands in its own store; a full disk says how much the whole pass still needs.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initEngine } from '../../../src/engines/tfjs/tf.js';
import { ImageDataGenerator } from '../../../src/data/image_data_generator.js';
import { FeatureIterator, type FeatureExtractor } from '../../../src/train/loop/feature_iterator.js';
import { FeatureStoreFullError, openFeatureStore } from '../../../src/engines/feature_store/index.js';
import { writeSquaresFolder } from '../helpers.js';

before(async () => {
  await initEngine();
});

/** Per-image channel means (3 values) and maxima (3 values) as two outputs; counts the rows it computes. */
function countingExtractor(): FeatureExtractor & { rows: number } {
  const extractor = {
    rows: 0,
    async features(x: tf.Tensor) {
      extractor.rows += x.shape[0];
      return tf.mean(x, [1, 2]);
    },
    async outputsOf(x: tf.Tensor) {
      extractor.rows += x.shape[0];
      const mean = tf.mean(x, [1, 2]);
      const max = tf.max(x, [1, 2]);
      const out = [
        { data: (await mean.data()) as Float32Array, shape: mean.shape },
        { data: (await max.data()) as Float32Array, shape: max.shape },
      ];
      tf.dispose([mean, max]);
      return out;
    },
  };
  return extractor;
}

async function setup(n = 12) {
  const dir = await fs.mkdtemp(join(tmpdir(), 'tlkit-iter-store-'));
  await writeSquaresFolder(join(dir, 'data'), n, 16, 3);
  const inner = new ImageDataGenerator({ rescale: 1 / 255 }).flowFromDirectory(join(dir, 'data'), { targetSize: [16, 16], batchSize: 5, seed: 4, classMode: 'sparse' });
  let loads = 0;
  const load = (inner as unknown as { loadSample: (...a: unknown[]) => Promise<unknown> }).loadSample.bind(inner);
  (inner as unknown as { loadSample: (...a: unknown[]) => Promise<unknown> }).loadSample = (...a: unknown[]) => {
    loads++;
    return load(...a);
  };
  const open = (fingerprint: string, write?: Parameters<typeof openFeatureStore>[2]) => openFeatureStore(join(dir, 'cache'), { fingerprint, shape: [3], precision: 'float16' }, { memoryBudgetBytes: 0, ...write });
  const stores = [await open('aa'.repeat(16)), await open('bb'.repeat(16))];
  return { dir, inner, stores, open, loads: () => loads, resetLoads: () => (loads = 0), keyOf: (i: number) => `k${i}` };
}

async function epoch(features: FeatureIterator): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for await (const b of features.epochBatches!()) {
    const x = Array.from(await b.x.data());
    b.indices!.forEach((s, i) => out.set(s, x.slice(i * 3, i * 3 + 3)));
    tf.dispose([b.x, b.y!]);
  }
  return out;
}

test('a partly filled store: only the missing samples are computed; then epochs read no image; every output is stored', async () => {
  const s = await setup();
  // A killed run left half the samples in the store.
  const first = new FeatureIterator(s.inner, countingExtractor(), { cache: true, stores: { stores: s.stores, keyOf: s.keyOf } });
  const reference = await epoch(first);
  const half = await s.open('cc'.repeat(16));
  const halfStores = [half, await s.open('dd'.repeat(16))];
  for (let i = 0; i < 6; i++) {
    await halfStores[0].put([`k${i}`], [Float32Array.from(reference.get(i)!)]);
    await halfStores[1].put([`k${i}`], [(await s.stores[1].get(`k${i}`))!]);
  }
  const extractor = countingExtractor();
  const resumed = new FeatureIterator(s.inner, extractor, { cache: true, stores: { stores: halfStores, keyOf: s.keyOf } });
  const values = await epoch(resumed);
  assert.equal(extractor.rows, 6, 'only the 6 missing samples computed');
  assert.deepEqual(resumed.counts.fromStore, 6);
  assert.deepEqual(resumed.counts.computed, 6);
  assert.deepEqual(values, reference);
  assert.equal(halfStores[1].size, 12, 'the second output stored too');
  s.resetLoads();
  const again = await epoch(resumed);
  assert.equal(s.loads(), 0, 'a complete store: no image decoded');
  assert.equal(extractor.rows, 6);
  assert.deepEqual(again, reference);
  // The shared image iterator still gives pixels to anyone else.
  const plain = await s.inner.next();
  assert.ok(plain.x.size > 0);
  tf.dispose([plain.x, plain.y!]);
  // Stored rows in sample order, for the linear probe, without moving the iterator.
  const stored = resumed.storedRows(5)!;
  const order: number[] = [];
  for await (const chunk of stored.rows) order.push(...chunk.indices);
  assert.deepEqual(order, Array.from({ length: 12 }, (_, i) => i));
  await Promise.all([...s.stores, ...halfStores].map((st) => st.close()));
});

test('a record found damaged while pixels are skipped is recomputed from that sample alone', async () => {
  const s = await setup();
  const keyOf = s.keyOf;
  const filled = new FeatureIterator(s.inner, countingExtractor(), { cache: true, stores: { stores: s.stores, keyOf } });
  const reference = await epoch(filled);
  await Promise.all(s.stores.map((st) => st.close()));
  // Damage one record of the first store on disk.
  const dir = s.stores[0].dir;
  const rec = (await fs.readdir(dir)).find((n) => n.endsWith('.rec'))!;
  const handle = await fs.open(join(dir, rec), 'r+');
  await handle.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 0, 6, 0);
  await handle.close();
  const stores = [await s.open('aa'.repeat(16)), await s.open('bb'.repeat(16))];
  const extractor = countingExtractor();
  const reader = new FeatureIterator(s.inner, extractor, { cache: true, stores: { stores, keyOf } });
  s.resetLoads();
  const values = await epoch(reader);
  assert.equal(extractor.rows, 1, 'one sample recomputed');
  assert.equal(s.loads(), 1, 'one image decoded');
  assert.deepEqual(values, reference);
  await Promise.all(stores.map((st) => st.close()));
});

test('a full disk while computing: the error names the store folder and what the whole pass still needs', async () => {
  const s = await setup();
  const failing = await s.open('ee'.repeat(16), {
    memoryBudgetBytes: 0,
    write: async () => {
      throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
    },
  });
  const features = new FeatureIterator(s.inner, countingExtractor(), { cache: true, stores: { stores: [failing, s.stores[1]], keyOf: s.keyOf } });
  const error = await epoch(features).catch((e: unknown) => e);
  assert.ok(error instanceof FeatureStoreFullError, String(error));
  assert.equal(error.dir, failing.dir);
  // 12 samples left x (6 + 6 bytes a record: two float16 stores of 3 values).
  assert.equal(error.bytesNeeded, 12 * 12);
  await Promise.all(s.stores.map((st) => st.close()));
  await failing.close();
});
