// The feature store seen from runs: one pass over each image writes both boundaries of the two-phase
// recipe (the head's and the fine-tune phase's), the runs of a sweep and a later compare of the same data
// read everything from the store (nothing computed) and give the same accuracy, and deleting the store
// only costs the recomputation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareBackbones } from '../../../src/compare/compare.js';
import { listCache } from '../../../src/engines/feature_store/index.js';
import type { CompareResult } from '../../../src/compare/types.js';

const SAMPLE = join(import.meta.dirname, '..', '..', '..', 'samples', 'fashion-shoes');

/** `features: A from the store, B computed` lines, as [A, B]. */
function featureLines(log: string[]): [number, number][] {
  return log.flatMap((m) => {
    const match = /features: ([\d,]+) from the store, ([\d,]+) computed \(.* on disk/.exec(m);
    return match ? [[Number(match[1].replace(/,/g, '')), Number(match[2].replace(/,/g, ''))] as [number, number]] : [];
  });
}

/** A small compare of the sample (mobilenet_v2 alpha 0.35 at 48 px, random weights) on the store `store`. */
function sampleCompare(store: string) {
  return {
    dataDir: join(SAMPLE, 'train'),
    valDir: join(SAMPLE, 'test'),
    backbones: ['mobilenet_v2'] as string[],
    weights: 'none',
    alpha: 0.35,
    inputSize: 48,
    epochs: 2,
    batchSize: 32,
    seed: 5,
    featureStore: store,
    linearProbe: true,
    audit: false,
  };
}

test('a sweep computes each image once for both phases; the same compare again computes nothing and gives the same accuracy', { timeout: 300_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'tlkit-store-reuse-'));
  try {
    const store = join(root, 'cache');
    const base = { ...sampleCompare(store), fineTuneEpochs: 1, fineTuneFrom: 'last-block' };
    const run = async (outDir: string, grid?: Record<string, number[]>) => {
      const log: string[] = [];
      const result: CompareResult = await compareBackbones({ ...base, outDir: join(root, outDir), ...(grid ? { grid } : {}) }, { onLog: (m) => log.push(m) });
      for (const row of result.rows) assert.ok(row.ok, JSON.stringify(row));
      return { log, result, features: featureLines(log) };
    };

    const sweep = await run('sweep', { learningRate: [1e-3, 1e-4] });
    // Run 1: the head phase computes the 600 images (400 training, 200 held out) once, writing the
    // fine-tune phase's boundary too, which then reads all of them; run 2 computes nothing.
    assert.deepEqual(sweep.features, [[0, 600], [600, 0], [600, 0], [600, 0]]);
    const listing = await listCache(store);
    const stores = listing.items.filter((i) => i.kind === 'feature-store');
    assert.equal(stores.length, 2, 'one store per boundary');
    assert.deepEqual(stores.map((s) => s.entries), [600, 600]);
    assert.deepEqual(new Set(stores.map((s) => (s.meta!.about as { boundary: string }).boundary)), new Set(['global_average_pooling2d', 'block_15_add']));

    // The probe is a function of the frozen features: the sweep's second run reads the first one's result.
    const probes = sweep.log.filter((m) => m.includes('linear probe: held-out accuracy'));
    assert.equal(probes.length, 2);
    assert.doesNotMatch(probes[0], /probe cache/);
    assert.match(probes[1], /read from the probe cache/);
    assert.equal(sweep.result.rows[0].ok && sweep.result.rows[0].linearProbeAccuracy, sweep.result.rows[1].ok && sweep.result.rows[1].linearProbeAccuracy);

    const again = await run('again', { learningRate: [1e-3] });
    assert.deepEqual(again.features, [[600, 0], [600, 0]]);
    const first = sweep.result.rows[0];
    const second = again.result.rows[0];
    assert.ok(first.ok && second.ok);
    assert.equal(second.accuracy, first.accuracy);
    assert.equal(second.valLoss, first.valLoss);
    assert.deepEqual(second.history.map((h) => h.loss), first.history.map((h) => h.loss));

    // Deleting the store is safe: the next run computes again, with the same result.
    rmSync(join(store, 'features'), { recursive: true });
    const fresh = await run('fresh', { learningRate: [1e-3] });
    assert.deepEqual(fresh.features, [[0, 600], [600, 0]]);
    const third = fresh.result.rows[0];
    assert.ok(third.ok);
    assert.equal(third.accuracy, first.accuracy);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a Flatten head stores the map once: the head, the linear probe and a later compare read the same store', { timeout: 300_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'tlkit-store-flatten-'));
  try {
    const store = join(root, 'cache');
    const options = { ...sampleCompare(store), head: 'flatten,dense:8:relu', fineTuneEpochs: 0, freezeBackbone: true };
    const log: string[] = [];
    const result = await compareBackbones({ ...options, outDir: join(root, 'first') }, { onLog: (m) => log.push(m) });
    assert.ok(result.rows[0].ok, JSON.stringify(result.rows[0]));
    assert.deepEqual(featureLines(log), [[0, 600]], log.join("\n"));
    // The frozen prefix ends on the map before the Flatten (which trains in the rest, at no cost): one store
    // of 2 x 2 x 1280 values an image, not the map and its flattened copy.
    const stores = (await listCache(store)).items.filter((i) => i.kind === 'feature-store');
    assert.deepEqual(stores.map((s) => [(s.meta!.about as { boundary: string }).boundary, s.meta!.shape, s.entries]), [['out_relu', [2, 2, 1280], 600]]);
    assert.ok(log.some((m) => m.includes("frozen prefix up to 'out_relu'")), log.join('\n'));
    // The probe pools that map.
    assert.ok(log.some((m) => /linear probe: held-out accuracy .* on 1280 pooled frozen features/.test(m)), log.join('\n'));
    const againLog: string[] = [];
    const again = await compareBackbones({ ...options, outDir: join(root, 'again') }, { onLog: (m) => againLog.push(m) });
    assert.deepEqual(featureLines(againLog), [[600, 0]]);
    const [a, b] = [result.rows[0], again.rows[0]];
    assert.ok(a.ok && b.ok);
    assert.equal(b.accuracy, a.accuracy);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
