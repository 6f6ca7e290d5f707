// The neighbour search on onnxruntime against the TypeScript one: the same lists (up to float32
// rounding of near-ties), a row never its own neighbour, k capped by the reference count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../../../src/core/random.js';
import { nearestNeighbours, nearestNeighboursOnnx, neighbourSpace, projectStandardized, projectStandardizedParts } from '../../../src/train/audit/embeddings.js';

function space(n: number, d: number, seed: number, dims: number) {
  const rng = new Random(seed);
  return neighbourSpace({ x: Float64Array.from({ length: n * d }, () => rng.random() - 0.5), n, d }, dims);
}

test('onnxruntime neighbours: the TypeScript search\'s lists, self and cross, a row never its own', async () => {
  const a = space(300, 40, 1, 24);
  const b = space(70, 40, 2, 24);
  for (const [query, reference, self] of [[a, a, true], [b, a, false]] as const) {
    const ts = nearestNeighbours(query, reference, 7, self);
    const ort = await nearestNeighboursOnnx(query, reference, 7, self);
    assert.equal(ort.k, ts.k);
    let same = 0;
    for (let i = 0; i < ts.index.length; i++) {
      if (ts.index[i] === ort.index[i]) same++;
      assert.ok(Math.abs(ts.similarity[i] - ort.similarity[i]) < 1e-5, `similarity ${i}: ${ts.similarity[i]} vs ${ort.similarity[i]}`);
    }
    assert.ok(same >= ts.index.length - 4, `${same} of ${ts.index.length} the same`);
    if (self) for (let i = 0; i < query.n; i++) for (let t = 0; t < ort.k; t++) assert.notEqual(ort.index[i * ort.k + t], i);
  }
  const few = space(4, 8, 3, 8);
  const capped = await nearestNeighboursOnnx(few, few, 10, true);
  assert.equal(capped.k, 3);
  assert.deepEqual(Array.from(capped.index).sort(), Array.from(nearestNeighbours(few, few, 10, true).index).sort());
});

test('projectStandardizedParts: the numbers of projectStandardized on the stacked parts', () => {
  const rng = new Random(4);
  const d = 50;
  const a = { x: Float64Array.from({ length: 30 * d }, () => Math.max(0, rng.random() - 0.3)), n: 30, d };
  const b = { x: Float64Array.from({ length: 12 * d }, () => Math.max(0, rng.random() - 0.3)), n: 12, d };
  const stacked = { x: new Float64Array([...a.x, ...b.x]), n: 42, d };
  assert.deepEqual(projectStandardizedParts([a, b], 16, 9), projectStandardized(stacked, 16, 9));
  assert.deepEqual(projectStandardizedParts([a, b], 64, 9), projectStandardized(stacked, 64, 9));
});
