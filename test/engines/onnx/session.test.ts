// The onnxruntime runner: tensors in and out, staging buffers that are reused but never mixed up
// between concurrent runs, same results on the main thread and in a worker.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, tfl } from '../../../src/engines/tfjs/tf.js';
import { exportOnnx } from '../../../src/engines/onnx/export.js';
import { createOnnxRunner, splitRows } from '../../../src/engines/onnx/session.js';
import { readTensorData } from '../../../src/engines/onnx/tensor_data.js';
import { UsageError } from '../../../src/core/errors.js';
import { assertClose, randomInput, randomizeWeights } from './parity.js';

before(async () => {
  await initEngine();
});

function smallModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 5, 3] });
  const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: conv });
  randomizeWeights(model, 2);
  return model;
}

test('readTensorData copies the values into the reusable buffer when it fits', () => {
  const x = randomInput([2, 3, 4], 1);
  const reuse = new Float32Array(100);
  const data = readTensorData(x, reuse);
  assert.deepEqual(Array.from(data), Array.from(x.dataSync()));
  if (tf.getBackend() === 'wasm') assert.equal(data.buffer, reuse.buffer);
});

for (const worker of [false, true]) {
  test(`concurrent (and sliced) tensor runs each get their own result (${worker ? 'worker thread' : 'main thread'})`, async () => {
    const model = smallModel();
    // maxRunBatch 1: batches of 2 run as two slices written into one result.
    const runner = await createOnnxRunner(await exportOnnx(model), { worker, maxRunBatch: 1 });
    try {
      const inputs = [1, 2, 3, 4].map((seed) => randomInput([1 + (seed % 2), 6, 5, 3], seed));
      const outputs = await Promise.all(inputs.map((x) => runner.run(x)));
      outputs.forEach((y, i) => assertClose(y, model.predict(inputs[i]) as tf.Tensor, `run ${i}`));
      const x = inputs[0];
      const raw = await runner.run(Float32Array.from(x.dataSync()), x.shape);
      assert.deepEqual(raw.shape, [2, 3, 3, 4]);
      const all = await runner.runAll(Float32Array.from(x.dataSync()), x.shape);
      assert.deepEqual(Object.keys(all), [...runner.outputNames]);
      await assert.rejects(runner.run(new Float32Array(5), [1, 6, 5, 3]), (e: Error) => e instanceof UsageError && /shape/.test(e.message));
      await assert.rejects(runner.run(tf.zeros([1, 6, 5, 3], 'int32')), (e: Error) => e instanceof UsageError && /dtype/.test(e.message));
    } finally {
      await runner.dispose();
    }
  });
}

test('splitRows gives each session a contiguous share, sizes within one, none past the rows', () => {
  assert.deepEqual(splitRows(16, 2), [{ start: 0, end: 8 }, { start: 8, end: 16 }]);
  assert.deepEqual(splitRows(5, 3), [{ start: 0, end: 2 }, { start: 2, end: 4 }, { start: 4, end: 5 }]);
  assert.deepEqual(splitRows(1, 4), [{ start: 0, end: 1 }]);
  for (let n = 1; n <= 20; n++) {
    for (let parts = 1; parts <= 5; parts++) {
      const ranges = splitRows(n, parts);
      assert.equal(ranges.length, Math.min(n, parts));
      assert.equal(ranges[0].start, 0);
      assert.equal(ranges.at(-1)!.end, n);
      ranges.forEach((r, i) => {
        assert.ok(r.end > r.start, `${n}/${parts}: empty range ${i}`);
        if (i > 0) assert.equal(r.start, ranges[i - 1].end);
      });
      const sizes = ranges.map((r) => r.end - r.start);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${n}/${parts}: ${sizes}`);
    }
  }
});

test('several sessions split a batch between them and join the rows in order, as one session would', async () => {
  const model = smallModel();
  const bytes = await exportOnnx(model);
  const one = await createOnnxRunner(bytes, { intraOpNumThreads: 1 });
  const three = await createOnnxRunner(bytes, { sessions: 3, intraOpNumThreads: 3, maxRunBatch: 1 });
  // Chunks of up to 2 rows (7 rows: 2, 2, 2, 1), taken by whichever of the 2 sessions is free.
  const pairs = await createOnnxRunner(bytes, { sessions: 2, intraOpNumThreads: 2, maxRunBatch: 2 });
  try {
    for (const n of [1, 2, 5, 7]) {
      const x = randomInput([n, 6, 5, 3], n);
      const data = Float32Array.from(x.dataSync());
      const expected = await one.run(data, x.shape);
      const got = await three.run(data, x.shape);
      assert.deepEqual(got.shape, expected.shape);
      // Every row is the same computation on one thread: equal to the bit.
      assert.deepEqual(Array.from(got.data), Array.from(expected.data), `batch of ${n}`);
      assert.deepEqual(Array.from((await pairs.run(data, x.shape)).data), Array.from(expected.data), `batch of ${n} in chunks of 2`);
      assert.deepEqual(Array.from(data), Array.from(x.dataSync()), 'the caller keeps its data untouched');
      assertClose(await three.run(x), model.predict(x) as tf.Tensor, `tensor batch of ${n}`);
      const all = await three.runAll(data, x.shape);
      assert.deepEqual(Object.keys(all), [...three.outputNames]);
    }
    // Concurrent calls keep their own rows.
    const inputs = [4, 3, 6].map((n) => randomInput([n, 6, 5, 3], 10 + n));
    const outputs = await Promise.all(inputs.map((x) => three.run(x)));
    outputs.forEach((y, i) => assertClose(y, model.predict(inputs[i]) as tf.Tensor, `concurrent run ${i}`));
  } finally {
    await one.dispose();
    await three.dispose();
    await pairs.dispose();
  }
});

test('bad thread counts and bytes that are not ONNX are reported', async () => {
  await assert.rejects(createOnnxRunner(new Uint8Array(4), { intraOpNumThreads: 0 }), (e: Error) => e instanceof UsageError && /intraOpNumThreads=0/.test(e.message));
  await assert.rejects(createOnnxRunner(new Uint8Array(4), { sessions: 0 }), (e: Error) => e instanceof UsageError && /sessions=0/.test(e.message));
  await assert.rejects(createOnnxRunner(new Uint8Array([1, 2, 3]), { sessions: 2 }), /could not load the ONNX model/);
  await assert.rejects(createOnnxRunner(new Uint8Array([1, 2, 3])), /could not load the ONNX model/);
});
