// The probe cache: the same rows, labels and settings are fitted once and read back identical; anything
// else that changes the result (a label, a row, a setting) is another entry; a damaged entry is refitted.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cachedLinearProbe, probeCacheDir } from '../../../src/train/probes/probe_cache.js';
import type { DenseRows } from '../../../src/train/probes/linear_probe.js';
import { listCache, pruneCache } from '../../../src/engines/feature_store/cache_admin.js';

/** Two noisy clusters per class in d dimensions, deterministic. */
function rows(n: number, d: number, classes: number, seed: number): { rows: DenseRows; labels: Int32Array } {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const x = new Float64Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % classes;
    for (let j = 0; j < d; j++) x[i * d + j] = rand() + (j % classes === labels[i] ? 1.5 : 0);
  }
  return { rows: { x, n, d }, labels };
}

test('a probe on the same inputs is read back from the cache, identical, out-of-fold probabilities included', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tlkit-probe-cache-'));
  try {
    const a = rows(90, 6, 3, 1);
    const b = rows(45, 6, 3, 2);
    const first = await cachedLinearProbe(root, a.rows, a.labels, b.rows, b.labels, 3, { keepOutOfFold: true });
    assert.equal(first.fromCache, undefined);
    assert.equal(readdirSync(probeCacheDir(root)).length, 1);
    const second = await cachedLinearProbe(root, a.rows, a.labels, b.rows, b.labels, 3, { keepOutOfFold: true });
    assert.equal(second.fromCache, true);
    assert.equal(second.accuracy, first.accuracy);
    assert.equal(second.c, first.c);
    assert.deepEqual(second.cvAccuracy, first.cvAccuracy);
    assert.ok(first.outOfFoldProbabilities && second.outOfFoldProbabilities);
    assert.deepEqual(Array.from(second.outOfFoldProbabilities), Array.from(first.outOfFoldProbabilities));

    // Another label, another row value or another setting: fitted again, a second and third entry.
    const relabelled = Int32Array.from(a.labels);
    relabelled[0] = (relabelled[0] + 1) % 3;
    assert.equal((await cachedLinearProbe(root, a.rows, relabelled, b.rows, b.labels, 3, { keepOutOfFold: true })).fromCache, undefined);
    assert.equal((await cachedLinearProbe(root, a.rows, a.labels, b.rows, b.labels, 3, { keepOutOfFold: false })).fromCache, undefined);
    const moved = { ...a.rows, x: Float64Array.from(a.rows.x) };
    moved.x[5] += 1e-9;
    assert.equal((await cachedLinearProbe(root, moved, a.labels, b.rows, b.labels, 3, { keepOutOfFold: true })).fromCache, undefined);
    assert.equal(readdirSync(probeCacheDir(root)).length, 4);

    // `tlkit cache` lists and prunes them.
    const listing = await listCache(root);
    assert.equal(listing.items.filter((i) => i.kind === 'linear-probe').length, 4);
    await pruneCache(root, { maxBytes: 0, kinds: ['linear-probe'] });
    assert.equal(readdirSync(probeCacheDir(root)).length, 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a damaged entry is fitted again and rewritten; no root, no cache', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tlkit-probe-cache-'));
  try {
    const a = rows(60, 4, 2, 3);
    const b = rows(30, 4, 2, 4);
    const first = await cachedLinearProbe(root, a.rows, a.labels, b.rows, b.labels, 2);
    const [entry] = readdirSync(probeCacheDir(root));
    writeFileSync(join(probeCacheDir(root), entry), '{"accuracy": 0.5, "c": ');
    const again = await cachedLinearProbe(root, a.rows, a.labels, b.rows, b.labels, 2);
    assert.equal(again.fromCache, undefined);
    assert.equal(again.accuracy, first.accuracy);
    assert.equal((await cachedLinearProbe(root, a.rows, a.labels, b.rows, b.labels, 2)).fromCache, true);
    const none = await cachedLinearProbe(undefined, a.rows, a.labels, b.rows, b.labels, 2);
    assert.equal(none.fromCache, undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
