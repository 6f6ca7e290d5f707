// The lookup-table preprocessing shared by predict, the server and the web page gives preprocessInputArray's
// float32 values bit for bit, in every mode, with and without rescale (a wrong channel order fails it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelInputFromRgb } from '../../src/data/model_input.js';
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
