// The onnxruntime runner: tensors in and out, staging buffers that are reused but never mixed up
// between concurrent runs, same results on the main thread and in a worker.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, tfl } from '../../../src/engines/tfjs/tf.js';
import { exportOnnx } from '../../../src/engines/onnx/export.js';
import { createOnnxRunner } from '../../../src/engines/onnx/session.js';
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

test('bad thread counts and bytes that are not ONNX are reported', async () => {
  await assert.rejects(createOnnxRunner(new Uint8Array(4), { intraOpNumThreads: 0 }), (e: Error) => e instanceof UsageError && /intraOpNumThreads=0/.test(e.message));
  await assert.rejects(createOnnxRunner(new Uint8Array([1, 2, 3])), /could not load the ONNX model/);
});
