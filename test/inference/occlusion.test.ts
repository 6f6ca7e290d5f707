// Occlusion's arithmetic: where the patches go, what hides them, how falls become a map, and the log-odds read
// from probabilities. The pointing game with a trained model is in explain_layer.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classLogOdds, occludedCopies, occlusionGrid, occlusionHeatmap } from '../../src/inference/occlusion.js';

test('occlusionGrid: a quarter-side patch moved by half a patch, one flush with the far edge when the steps miss it', () => {
  const g = occlusionGrid(224, 224);
  assert.deepEqual(g.patch, [56, 56]);
  assert.deepEqual(g.stride, [28, 28]);
  assert.equal(g.positions.length, 49);
  assert.deepEqual(g.positions[0], [0, 0]);
  assert.deepEqual(g.positions[48], [168, 168]);
  assert.deepEqual([g.rows, g.cols], [8, 8]);
  const odd = occlusionGrid(100, 60);
  assert.deepEqual(odd.patch, [25, 15]);
  assert.deepEqual(odd.stride, [13, 8]);
  const ys = [...new Set(odd.positions.map(([y]) => y))];
  const xs = [...new Set(odd.positions.map(([, x]) => x))];
  assert.deepEqual(ys, [0, 13, 26, 39, 52, 65, 75]);
  assert.deepEqual(xs, [0, 8, 16, 24, 32, 40, 45]);
  assert.deepEqual([odd.rows, odd.cols], [8, 8]);
});

test('occludedCopies: only the patch changes; mean fills the mean colour, shuffle (the default) draws the image\'s own pixels, surround those around the patch, the same each time', () => {
  const [h, w] = [8, 8];
  const image = Float32Array.from({ length: h * w * 3 }, (_, i) => (i % 3) * 100 + Math.floor(i / 3));
  const grid = occlusionGrid(h, w, 0.5); // 4 px patches, stride 2
  const positions: [number, number][] = [[2, 4]];
  const inPatch = (r: number, c: number) => r >= 2 && r < 6 && c >= 4 && c < 8;
  const mean = occludedCopies(image, grid, positions, 'mean');
  const shuffled = occludedCopies(image, grid, positions);
  const pixels = new Set(Array.from({ length: h * w }, (_, p) => `${image[p * 3]},${image[p * 3 + 1]},${image[p * 3 + 2]}`));
  let changed = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const at = (r * w + c) * 3;
      if (!inPatch(r, c)) {
        assert.deepEqual([...mean.subarray(at, at + 3)], [...image.subarray(at, at + 3)]);
        assert.deepEqual([...shuffled.subarray(at, at + 3)], [...image.subarray(at, at + 3)]);
        continue;
      }
      assert.deepEqual([...mean.subarray(at, at + 3)], [31.5, 131.5, 231.5]);
      assert.ok(pixels.has(`${shuffled[at]},${shuffled[at + 1]},${shuffled[at + 2]}`), 'a shuffled pixel is one of the image\'s (all three channels together)');
      if (shuffled[at] !== image[at]) changed++;
    }
  }
  assert.ok(changed >= 12, `the patch's 16 pixels are mostly replaced (${changed})`);
  assert.deepEqual(occludedCopies(image, grid, positions, 'shuffle'), shuffled);
  // surround: every hidden pixel is one of the band around the patch (rows 0..7, cols 2..7 here,
  // clipped to the image), outside the patch itself.
  const surround = occludedCopies(image, grid, positions, 'surround');
  const band = new Set<string>();
  for (let r = 0; r < h; r++) for (let c = 2; c < w; c++) if (!inPatch(r, c)) band.add(`${image[(r * w + c) * 3]}`);
  for (let r = 2; r < 6; r++) {
    for (let c = 4; c < 8; c++) assert.ok(band.has(`${surround[(r * w + c) * 3]}`), `(${r}, ${c}) holds ${surround[(r * w + c) * 3]}, not from the band`);
  }
  assert.deepEqual(occludedCopies(image, grid, positions, 'surround'), surround);
  assert.throws(() => occludedCopies(image.subarray(3), grid, positions), /expected 8 x 8 x 3/);
});

test('occlusionHeatmap: a cell is the mean fall of the patches covering it; rises count as 0', () => {
  const grid = occlusionGrid(8, 8, 0.5); // 4 px patches at 0, 2, 4 per axis: 9 patches; 2 px cells, 4 x 4
  const falls = new Float32Array(9);
  falls[4] = 3; // the centre patch, rows and cols 2..5
  falls[0] = -5; // hiding the corner raised the score
  const map = occlusionHeatmap(falls, grid);
  assert.deepEqual([map.rows, map.cols], [4, 4]);
  const cell = (r: number, c: number) => map.data[r * 4 + c];
  // Cell (1, 1) (pixels 2..3) is covered by the patches at 0 and 2 on each axis: 4 patches, one of them the centre's.
  assert.equal(cell(1, 1), 0, 'the corner patch\'s rise outweighs the centre\'s fall there');
  assert.ok(Math.abs(cell(2, 2) - 3 / 4) < 1e-6, `cell (2, 2): ${cell(2, 2)}`);
  assert.equal(cell(0, 0), 0);
  assert.equal(cell(3, 3), 0);
  assert.throws(() => occlusionHeatmap([1, 2], grid), /2 falls for 9 patches/);
});

test('classLogOdds: softmax from the other classes\' sum (exact when they are tiny), a sigmoid unit signed by class', () => {
  assert.ok(Math.abs(classLogOdds([0.7, 0.2, 0.1], 0, false) - Math.log(0.7 / 0.3)) < 1e-12);
  // 1 - p would round to 0 in float32 here; the others' sum does not.
  const row = Float32Array.from([1, 1e-12, 3e-12]);
  assert.ok(Math.abs(classLogOdds(row, 0, false) - -Math.log(4e-12)) < 1e-3, `${classLogOdds(row, 0, false)}`);
  assert.ok(Math.abs(classLogOdds([0.8], 1, true) - Math.log(4)) < 1e-9);
  assert.ok(Math.abs(classLogOdds([0.8], 0, true) + Math.log(4)) < 1e-9);
  assert.ok(Number.isFinite(classLogOdds([1], 1, true)));
  assert.equal(classLogOdds([1], 0, false), 0, 'one class: log p');
});
