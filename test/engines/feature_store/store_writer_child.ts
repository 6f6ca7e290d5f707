// Child process for the two-writers test: writes `count` deterministic records into the store at
// argv[2] (fingerprint argv[3]), keys k0..k{count-1}, values a function of the key only.
import { openFeatureStore } from '../../../src/engines/feature_store/index.js';

import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [root, fingerprint, countText, barrier] = process.argv.slice(2);
const store = await openFeatureStore(root, { fingerprint, shape: [4, 8], precision: 'float16' });
// Both writers have opened the store (so neither knows the other's keys) before either writes.
writeFileSync(path.join(barrier, `ready-${process.pid}`), '');
while (!existsSync(path.join(barrier, 'go'))) await new Promise((r) => setTimeout(r, 10));
const count = Number(countText);
for (let start = 0; start < count; start += 5) {
  const keys: string[] = [];
  const rows: Float32Array[] = [];
  for (let i = start; i < Math.min(count, start + 5); i++) {
    keys.push(`k${i}`);
    rows.push(Float32Array.from({ length: 32 }, (_, j) => Math.sin(i * 31 + j) * 10));
  }
  await store.put(keys, rows);
}
await store.close();
