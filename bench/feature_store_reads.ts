// What the feature store's in-memory set saves a head trained on stored pooled features: N records of
// D values (default: the issue's 18,750 images x inception_v3's 2,048 pooled features), written once, then
// read in a new shuffled order every epoch, in batches of 32, as FeatureIterator reads them. Prints the
// seconds an epoch takes with the default memory budget (records kept as stored, admitted until the
// budget is full, never evicted) and with no memory at all (every read from the file, i.e. the page
// cache here). A least-recently-used cache smaller than the set misses on every read of such a scan, so
// the no-memory figure is also what the LRU the store had before gave once the set outgrew it.
//
//   npx tsx bench/feature_store_reads.ts [--records 18750] [--dim 2048] [--precision float16] [--epochs 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFeatureStore, DEFAULT_STORE_MEMORY_BYTES, formatBytes, type FeaturePrecision } from '../src/engines/feature_store/index.js';
import { flag, numberFlag } from './flags.js';

const RECORDS = numberFlag('records', 18750);
const DIM = numberFlag('dim', 2048);
const PRECISION = flag('precision', 'float16') as FeaturePrecision;
const EPOCHS = numberFlag('epochs', 3);
const BATCH = 32;

function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let state = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

const root = mkdtempSync(join(tmpdir(), 'tlkit-bench-store-reads-'));
try {
  const description = { fingerprint: 'be'.repeat(16), shape: [DIM], precision: PRECISION };
  const keys = Array.from({ length: RECORDS }, (_, i) => `image-${i}`);
  const writer = await openFeatureStore(root, description, { memoryBudgetBytes: 0 });
  for (let start = 0; start < RECORDS; start += 256) {
    const batch = keys.slice(start, start + 256);
    await writer.put(batch, batch.map((_, k) => Float32Array.from({ length: DIM }, (_, j) => Math.sin((start + k) * 0.37 + j))));
  }
  await writer.close();
  const recordBytes = DIM * (PRECISION === 'float16' ? 2 : 4);
  console.log(`${RECORDS} records of ${DIM} ${PRECISION} values (${formatBytes(RECORDS * recordBytes)} as stored, ${formatBytes(RECORDS * DIM * 4)} as float32), batches of ${BATCH}, ${EPOCHS} epochs`);
  for (const [label, budget] of [['default memory budget', DEFAULT_STORE_MEMORY_BYTES], ['no memory (every read from the file)', 0]] as const) {
    const store = await openFeatureStore(root, description, { memoryBudgetBytes: budget });
    const seconds: number[] = [];
    for (let epoch = 0; epoch < EPOCHS; epoch++) {
      const order = shuffled(RECORDS, epoch + 1);
      const started = performance.now();
      for (let start = 0; start < RECORDS; start += BATCH) {
        const rows = await store.getMany(order.slice(start, start + BATCH).map((i) => keys[i]));
        if (rows.some((r) => r === undefined)) throw new Error('a record did not read back');
      }
      seconds.push((performance.now() - started) / 1000);
    }
    await store.close();
    const held = Math.min(RECORDS, Math.floor(budget / recordBytes));
    console.log(`${label} (${formatBytes(budget)}: holds ${held} of ${RECORDS}): epoch ${seconds.map((s) => s.toFixed(2)).join(' / ')} s`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
