// The batching queue alone, with a model call the test controls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MicroBatcher, QueueFullError, BatcherClosedError } from '../../src/serve/micro_batcher.js';

/** A model call that doubles its inputs, records batch sizes, and can be held until released. */
function gatedModel() {
  const batches: number[][] = [];
  let release: () => void = () => undefined;
  let gate = Promise.resolve();
  return {
    batches,
    hold() {
      gate = new Promise((resolve) => (release = resolve));
    },
    release: () => release(),
    run: async (inputs: number[]) => {
      batches.push(inputs);
      await gate;
      return inputs.map((x) => x * 2);
    },
  };
}

test('requests within the window share one call, up to maxBatch; each gets its own outputs', async () => {
  const model = gatedModel();
  const b = new MicroBatcher<number, number>({ run: model.run, maxBatch: 3, windowMs: 20, maxQueue: 10 });
  const results = await Promise.all([b.submit([1]), b.submit([2, 3]), b.submit([4]), b.submit([5])]);
  assert.deepEqual(results, [[2], [4, 6], [8], [10]]);
  assert.deepEqual(model.batches, [[1, 2, 3], [4, 5]], 'a full batch goes at once; the rest after the running call');
});

test('past maxQueue a request is refused whole, at once; the queue frees as calls finish', async () => {
  const model = gatedModel();
  model.hold();
  const b = new MicroBatcher<number, number>({ run: model.run, maxBatch: 1, windowMs: 0, maxQueue: 2 });
  const running = b.submit([1]); // taken by the held call: no longer queued
  const queued = b.submit([2, 3]);
  assert.equal(b.depth, 2);
  await assert.rejects(b.submit([4]), (e: unknown) => e instanceof QueueFullError && e.depth === 2 && /maxQueue=2/.test(e.message));
  assert.equal(b.depth, 2, 'a refused request leaves nothing behind');
  model.release();
  assert.deepEqual(await running, [2]);
  assert.deepEqual(await queued, [4, 6]);
  assert.equal(b.depth, 0);
});

test('a failing call rejects its batch only; close() runs what was admitted and refuses the rest', async () => {
  let calls = 0;
  const b = new MicroBatcher<number, number>({
    run: async (xs) => {
      if (calls++ === 0) throw new Error('model failed');
      return xs;
    },
    maxBatch: 2,
    windowMs: 50,
    maxQueue: 8,
  });
  await assert.rejects(b.submit([1, 2]), /model failed/);
  const pending = b.submit([3]);
  await b.close();
  assert.deepEqual(await pending, [3], 'admitted work finishes on close');
  await assert.rejects(b.submit([4]), BatcherClosedError);
});

test('maxConcurrent calls run at once: the next batch starts while one is held, never more than the limit', async () => {
  for (const maxConcurrent of [1, 2]) {
    const model = gatedModel();
    model.hold();
    let inFlight = 0;
    let most = 0;
    const b = new MicroBatcher<number, number>({
      run: async (inputs) => {
        most = Math.max(most, ++inFlight);
        try {
          return await model.run(inputs);
        } finally {
          inFlight--;
        }
      },
      maxBatch: 2,
      windowMs: 0,
      maxQueue: 16,
      maxConcurrent,
    });
    const results = Promise.all([b.submit([1, 2]), b.submit([3, 4]), b.submit([5, 6])]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(model.batches.length, maxConcurrent, `${maxConcurrent}: calls started while the first is held`);
    assert.equal(b.depth, 6 - 2 * maxConcurrent, `${maxConcurrent}: images still waiting`);
    model.release();
    assert.deepEqual(await results, [[2, 4], [6, 8], [10, 12]]);
    assert.equal(most, maxConcurrent);
    await b.close();
  }
  assert.throws(() => new MicroBatcher<number, number>({ run: async (x) => x, maxBatch: 1, windowMs: 0, maxQueue: 1, maxConcurrent: 0 }), /maxConcurrent=0/);
});
