// Weight layouts of the compiled step (params.ts): the tiled permute moves every value where a plain
// element-by-element gather puts it, for every permutation of ranks 0-5 (size-1 axes included), and
// kerasToOnnx / onnxToKeras are inverse (also when writing into a view of the flat weight vector).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kerasToOnnx, onnxToKeras, permute, type ParamLayout } from '../../../../src/engines/onnx/training/params.js';

function gather(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const outShape = perm.map((p) => shape[p]);
  const out = new Float32Array(data.length);
  for (let o = 0; o < out.length; o++) {
    let rest = o;
    let src = 0;
    for (let d = rank - 1; d >= 0; d--) {
      src += (rest % outShape[d]) * strides[perm[d]];
      rest = Math.floor(rest / outShape[d]);
    }
    out[o] = data[src];
  }
  return out;
}

const permutations = (n: number): number[][] => (n === 0 ? [[]] : permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])));

test('permute equals an element-wise gather for every permutation of ranks 0-5, with size-1 and tile-crossing axes', () => {
  const shapes = [[], [7], [1], [3, 70], [70, 1, 33], [3, 3, 40, 36], [1, 1, 65, 34], [2, 1, 3, 1, 5], [2, 3, 1, 2, 3]];
  let checked = 0;
  for (const shape of shapes) {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i + 0.5);
    for (const perm of permutations(shape.length)) {
      assert.deepEqual(permute(data, shape, perm), gather(data, shape, perm), `shape ${JSON.stringify(shape)} perm ${JSON.stringify(perm)}`);
      checked++;
    }
  }
  assert.ok(checked > 200);
});

test('kerasToOnnx and onnxToKeras are inverse for every layout, and copy', () => {
  const cases: [number[], ParamLayout][] = [
    [[3, 3, 8, 40], 'oihw'],
    [[1, 1, 33, 70], 'oihw'],
    [[3, 3, 40, 1], 'grouped'],
    [[5, 5, 6, 2], 'grouped'],
    [[70], 'plain'],
  ];
  for (const [shape, layout] of cases) {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i));
    const onnx = kerasToOnnx(data, shape, layout);
    assert.notEqual(onnx, data);
    assert.deepEqual(onnxToKeras(onnx, shape, layout), data);
    // Into a view of a larger vector (the flat weights): same values, nothing written outside it.
    const flat = new Float32Array(data.length + 6).fill(-1);
    const view = flat.subarray(3, 3 + data.length);
    assert.equal(kerasToOnnx(data, shape, layout, view), view);
    assert.deepEqual(view, onnx);
    assert.deepEqual([...flat.subarray(0, 3), ...flat.subarray(3 + data.length)], [-1, -1, -1, -1, -1, -1]);
  }
});
