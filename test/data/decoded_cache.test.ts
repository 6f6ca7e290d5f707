// DecodedCache: a per-iterator budget, and one shared by every cache of the process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodedCache } from '../../src/data/decoded_cache.js';

test('caches keep images up to their own budget and, together, up to the process budget; clear gives the share back', () => {
  const image = () => new Uint8Array(100);
  const a = new DecodedCache(1000, 1500);
  const b = new DecodedCache(1000, 1500);
  for (let i = 0; i < 20; i++) a.keep(i, image());
  assert.equal(a.size, 10, 'its own budget: 1000 bytes');
  for (let i = 0; i < 20; i++) b.keep(i, image());
  assert.equal(b.size, 5, 'what the process budget leaves: 500 bytes');
  assert.equal(b.get(4)?.length, 100);
  assert.equal(b.get(5), undefined);
  a.keep(3, image());
  assert.equal(a.size, 10, 'an index is kept once');
  a.clear();
  assert.equal(a.sizeBytes, 0);
  for (let i = 5; i < 20; i++) b.keep(i, image());
  assert.equal(b.size, 10, 'room again once the other cache is cleared');
  b.clear();
});
