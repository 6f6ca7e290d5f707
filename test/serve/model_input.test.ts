// The lookup-table preprocessing shared by predict, the server and the web page gives preprocessInputArray's
// float32 values bit for bit, in every mode, with and without rescale (a wrong channel order fails it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelInputFromRgb, modelInputInto } from '../../src/data/model_input.js';
import { preprocessInputArray } from '../../src/data/preprocess_array.js';

test('modelInputFromRgb equals preprocessInputArray then rescale, bit for bit', () => {
  const rgb = new Uint8Array(64 * 3 * 7).map((_, i) => (Math.imul(i, 2654435761) >>> 24) ^ (i % 3) * 85);
  for (const mode of ['tf', 'caffe', 'torch', 'none'] as const) {
    for (const rescale of [undefined, 1 / 255, 0.5]) {
      const expected = Float32Array.from(rgb);
      preprocessInputArray(expected, 3, mode);
      if (rescale !== undefined) for (let i = 0; i < expected.length; i++) expected[i] *= rescale;
      assert.deepEqual(modelInputFromRgb(rgb, { preprocess: mode, rescale }), expected, `${mode}, rescale ${rescale}`);
    }
  }
});

test('modelInputInto writes the same row into a batch at its offset and nothing else', () => {
  const rgb = new Uint8Array(5 * 3).map((_, i) => (i * 37) % 256);
  const spec = { preprocess: 'caffe', rescale: 0.5 };
  const batch = new Float32Array(3 * rgb.length).fill(-7);
  modelInputInto(rgb, spec, batch, rgb.length);
  assert.deepEqual(batch.subarray(rgb.length, 2 * rgb.length), modelInputFromRgb(rgb, spec));
  assert.ok(batch.subarray(0, rgb.length).every((v) => v === -7) && batch.subarray(2 * rgb.length).every((v) => v === -7), 'the other rows are untouched');
  assert.throws(() => modelInputInto(rgb, spec, batch, 2 * rgb.length + 1), RangeError);
});
