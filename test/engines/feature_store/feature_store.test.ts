// The feature store on its own: a round trip at both precisions, float16 rounding that matches what
// later reads return, torn and truncated writes that read as missing, two processes writing the same
// keys, a full disk (an injected write failing with ENOSPC), and the cache listing and pruning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { openFeatureStore, FeatureStoreFullError, fileIdentityKey, listCache, pruneCache } from '../../../src/engines/feature_store/index.js';
import { decodeHalf, encodeHalf, toHalfBits } from '../../../src/engines/feature_store/float16.js';

const FP = 'ab'.repeat(16);
const rowOf = (i: number, n = 32) => Float32Array.from({ length: n }, (_, j) => Math.sin(i * 31 + j) * 10);
const tempRoot = () => fs.mkdtemp(path.join(tmpdir(), 'tlkit-store-'));

test('float16 encoding: exact for representable values, nearest for others, saturating', () => {
  const values = Float32Array.from([0, 1, -2, 0.5, 65504, 1e6, -1e6, 1 / 3, 6e-8, 1.0009765625]);
  const back = decodeHalf(encodeHalf(values, new Uint16Array(values.length)), new Float32Array(values.length));
  assert.deepEqual(Array.from(back.slice(0, 5)), [0, 1, -2, 0.5, 65504]);
  assert.equal(back[5], 65504);
  assert.equal(back[6], -65504);
  assert.ok(Math.abs(back[7] - 1 / 3) < 1e-3);
  assert.ok(back[8] > 0 && back[8] < 1e-7);
  assert.equal(back[9], 1.0009765625);
  assert.equal(toHalfBits(1), 0x3c00);
  // Ties go to even: 1 + 2^-11 sits halfway between 1 and 1 + 2^-10.
  assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00);
});

test('float16 encoding of a Float32Array (the fast path) equals toHalfBits on every half boundary and on random bits', () => {
  const values: number[] = [0, -0, 65504, 65519.99, 65520, -65520, 1e9, Infinity, -Infinity, NaN, 2 ** -14, 2 ** -15, 2 ** -25, 2 ** -24, 6.1e-5];
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  // Every half value and its neighbours halfway to the next one (ties), just below and just above.
  for (let h = 0; h < 0x7c00; h++) {
    for (const sign of [0, 0x80000000]) {
      f[0] = decodeHalf(Uint16Array.of(h), new Float32Array(1))[0];
      const x = u[0] | sign;
      for (const d of [-1, 0, 1, 0x1000 - 1, 0x1000, 0x1000 + 1]) {
        u[0] = (x + d) >>> 0;
        values.push(f[0]);
      }
    }
  }
  let state = 12345;
  for (let i = 0; i < 200_000; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    u[0] = state;
    values.push(f[0]);
  }
  const input = Float32Array.from(values);
  const fast = encodeHalf(input, new Uint16Array(input.length));
  const slow = encodeHalf(Array.from(input), new Uint16Array(input.length));
  let mismatches = 0;
  for (let i = 0; i < input.length; i++) if (fast[i] !== slow[i] || fast[i] !== toHalfBits(input[i])) mismatches++;
  assert.equal(mismatches, 0, `${mismatches} of ${input.length} values encode differently`);
});

for (const precision of ['float16', 'float32'] as const) {
  test(`round trip (${precision}): what put returns is what get returns, after reopening too`, async () => {
    const root = await tempRoot();
    const store = await openFeatureStore(root, { fingerprint: FP, shape: [4, 8], precision, about: { boundary: 'out_relu' } }, { memoryBudgetBytes: 0 });
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
    const stored = await store.put(keys, keys.map((_, i) => rowOf(i)));
    for (let i = 0; i < keys.length; i++) {
      const err = Math.max(...rowOf(i).map((v, j) => Math.abs(v - stored[i][j])));
      assert.ok(precision === 'float32' ? err === 0 : err > 0 && err < 1e-2, `${precision} error ${err}`);
    }
    await store.close();
    const again = await openFeatureStore(root, { fingerprint: FP, shape: [4, 8], precision }, { memoryBudgetBytes: 0 });
    assert.equal(again.size, 12);
    for (let i = 0; i < keys.length; i++) assert.deepEqual(await again.get(keys[i]), stored[i]);
    assert.equal(await again.get('absent'), undefined);
    const recordFiles = (await fs.readdir(again.dir)).filter((n) => n.endsWith('.rec'));
    const bytes = (await fs.stat(path.join(again.dir, recordFiles[0]))).size;
    assert.equal(bytes, 12 * 32 * (precision === 'float16' ? 2 : 4));
    await again.close();
  });
}

test('memory holds the first records read up to the budget, as stored, and keeps them through epochs in any order', async () => {
  const root = await tempRoot();
  const store = await openFeatureStore(root, { fingerprint: FP, shape: [32], precision: 'float16' }, { memoryBudgetBytes: 0 });
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
  const stored = await store.put(keys, keys.map((_, i) => rowOf(i)));
  await store.close();
  // Room for 5 float16 records of 32 values (64 bytes each): half what 5 decoded rows would take.
  const again = await openFeatureStore(root, { fingerprint: FP, shape: [32], precision: 'float16' }, { memoryBudgetBytes: 5 * 64 });
  const order = [7, 2, 9, 0, 11, 4, 1, 3, 5, 6, 8, 10];
  for (const i of order) assert.deepEqual(await again.get(keys[i]), stored[i]);
  // A least-recently-used cache would now hold the last five read; a scan in a new order would miss them
  // all. The first five stay: with the records gone from disk, exactly they are still served.
  for (const name of await fs.readdir(again.dir)) if (name.endsWith('.rec')) await fs.truncate(path.join(again.dir, name), 0);
  const hot = new Set(order.slice(0, 5));
  for (const i of [...order].reverse()) {
    const row = await again.get(keys[i]);
    if (hot.has(i)) assert.deepEqual(row, stored[i], `k${i} from memory`);
    else assert.equal(row, undefined, `k${i} is not in memory`);
  }
  // Each read is a new array: changing one does not change the next.
  const first = (await again.get(keys[7]))!;
  first.fill(0);
  assert.deepEqual(await again.get(keys[7]), stored[7]);
  await again.close();
});

test('another shape under the same fingerprint is refused', async () => {
  const root = await tempRoot();
  await (await openFeatureStore(root, { fingerprint: FP, shape: [4, 8], precision: 'float16' })).close();
  await assert.rejects(openFeatureStore(root, { fingerprint: FP, shape: [4, 9], precision: 'float16' }), /another feature store/);
});

test('a torn index line, a truncated record file and a damaged record all read as missing', async () => {
  const root = await tempRoot();
  const store = await openFeatureStore(root, { fingerprint: FP, shape: [4, 8], precision: 'float16' }, { memoryBudgetBytes: 0 });
  await store.put(['a', 'b', 'c', 'd'], [rowOf(0), rowOf(1), rowOf(2), rowOf(3)]);
  await store.close();
  const [rec] = (await fs.readdir(store.dir)).filter((n) => n.endsWith('.rec'));
  const idx = rec.replace('.rec', '.idx');
  // A killed writer: a record written but its index line cut short.
  await fs.appendFile(path.join(store.dir, idx), 'e 4 12');
  // The last record's bytes cut short (d), and c's bytes damaged in place.
  const recPath = path.join(store.dir, rec);
  await fs.truncate(recPath, 3 * 64 + 10);
  const handle = await fs.open(recPath, 'r+');
  await handle.write(Buffer.from([1, 2, 3, 4]), 0, 4, 2 * 64);
  await handle.close();
  const reader = await openFeatureStore(root, { fingerprint: FP, shape: [4, 8], precision: 'float16' }, { memoryBudgetBytes: 0 });
  assert.ok(await reader.get('a'));
  assert.ok(await reader.get('b'));
  assert.equal(await reader.get('c'), undefined, 'crc mismatch');
  assert.equal(reader.has('d'), false, 'record beyond the file end');
  assert.equal(reader.has('e'), false, 'torn index line');
  // Missing entries are simply written again, by this writer, and read back.
  await reader.put(['c', 'd'], [rowOf(2), rowOf(3)]);
  assert.ok(await reader.get('c'));
  await reader.close();
});

test('two processes writing the same keys at once leave a store that reads every key, identically', async () => {
  const root = await tempRoot();
  const child = fileURLToPath(new URL('./store_writer_child.ts', import.meta.url));
  const barrier = await tempRoot();
  const run = () => promisify(execFile)(process.execPath, ['--import', 'tsx', child, root, FP, '40', barrier]);
  const both = Promise.all([run(), run()]);
  while ((await fs.readdir(barrier)).length < 2) await new Promise((r) => setTimeout(r, 20));
  await fs.writeFile(path.join(barrier, 'go'), '');
  await both;
  const store = await openFeatureStore(root, { fingerprint: FP, shape: [4, 8], precision: 'float16' }, { memoryBudgetBytes: 0 });
  assert.equal((await fs.readdir(store.dir)).filter((n) => n.endsWith('.rec')).length, 2, 'one record file per writer');
  const reference = await openFeatureStore(await tempRoot(), { fingerprint: FP, shape: [4, 8], precision: 'float16' });
  for (let i = 0; i < 40; i++) {
    const [expected] = await reference.put([`k${i}`], [rowOf(i)]);
    assert.deepEqual(await store.get(`k${i}`), expected);
  }
  await store.close();
  await reference.close();
});

test('a full disk: FeatureStoreFullError names the folder and the bytes, and the store stays readable', async () => {
  const root = await tempRoot();
  let budget = 2;
  const store = await openFeatureStore(
    root,
    { fingerprint: FP, shape: [4, 8], precision: 'float32' },
    {
      memoryBudgetBytes: 0,
      write: async (handle, data, position) => {
        if (data.length === 4 * 128 && budget-- <= 0) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        await handle.write(data, 0, data.length, position);
      },
    },
  );
  await store.put(['a', 'b', 'c', 'd'], [0, 1, 2, 3].map((i) => rowOf(i)));
  await store.put(['e', 'f', 'g', 'h'], [4, 5, 6, 7].map((i) => rowOf(i)));
  const error = await store.put(['i', 'j', 'k', 'l'], [8, 9, 10, 11].map((i) => rowOf(i))).catch((e: unknown) => e);
  assert.ok(error instanceof FeatureStoreFullError, String(error));
  assert.equal(error.dir, store.dir);
  assert.equal(error.bytesNeeded, 4 * 128);
  assert.match(error.message, new RegExp(`${store.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*512 B more`));
  await store.close();
  const reader = await openFeatureStore(root, { fingerprint: FP, shape: [4, 8], precision: 'float32' }, { memoryBudgetBytes: 0 });
  assert.equal(reader.size, 8);
  assert.deepEqual(await reader.get('h'), rowOf(7));
  assert.equal(await reader.get('i'), undefined);
  await reader.close();
});

test('file identity: stat keys change with the file, content keys follow the bytes', async () => {
  const dir = await tempRoot();
  const a = path.join(dir, 'a.jpg');
  await fs.writeFile(a, 'one');
  const first = await fileIdentityKey(a);
  assert.match(first, /^[0-9a-f]{32}$/);
  await fs.writeFile(a, 'two!');
  assert.notEqual(await fileIdentityKey(a), first);
  const b = path.join(dir, 'b.jpg');
  await fs.writeFile(b, 'two!');
  assert.equal(await fileIdentityKey(a, 'content'), await fileIdentityKey(b, 'content'));
});

test('the cache listing sizes stores and graphs; pruning removes the least recently used first', async () => {
  const root = await tempRoot();
  const old = await openFeatureStore(root, { fingerprint: 'cd'.repeat(16), shape: [8], precision: 'float32' });
  await old.put(['a', 'b'], [rowOf(0, 8), rowOf(1, 8)]);
  await old.close();
  const past = new Date(Date.now() - 3600_000);
  for (const name of await fs.readdir(old.dir)) await fs.utimes(path.join(old.dir, name), past, past);
  const recent = await openFeatureStore(root, { fingerprint: 'ef'.repeat(16), shape: [8], precision: 'float32' });
  await recent.put(['a'], [rowOf(0, 8)]);
  await recent.close();
  // Explicit times: two files written a millisecond apart may carry mtimes in either order (coarse and
  // fine-grained file-system clocks), so the order under test is set, not left to the clock.
  const lessOld = new Date(Date.now() - 60_000);
  for (const name of await fs.readdir(recent.dir)) await fs.utimes(path.join(recent.dir, name), lessOld, lessOld);
  await fs.mkdir(path.join(root, 'onnx'));
  await fs.writeFile(path.join(root, 'onnx', 'frozen-prefix-x.tlkc'), Buffer.alloc(100));
  const listing = await listCache(root);
  assert.deepEqual(listing.items.map((i) => i.kind), ['feature-store', 'feature-store', 'compiled-graph']);
  assert.equal(listing.items[0].path, old.dir);
  assert.equal(listing.items[0].entries, 2);
  assert.equal(listing.items[1].entries, 1);
  assert.equal(listing.bytes, listing.items.reduce((s, i) => s + i.bytes, 0));
  const removed = await pruneCache(root, { maxBytes: listing.bytes - 1 });
  assert.deepEqual(removed.map((i) => i.path), [old.dir]);
  await assert.rejects(fs.stat(old.dir));
  assert.equal((await listCache(root)).items.length, 2);
});
