// The pure kernels against reference values from scripts/reference/data_reference.py (numpy, scipy,
// PIL: Keras's own computations). Regenerate: /usr/bin/python3 scripts/reference/data_reference.py
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resampleAffine, mapCoordinate, type FillMode } from '../../src/data/transforms/affine.js';
import { affineMatrix } from '../../src/data/transforms/apply_transform.js';
import { applyChannelShift } from '../../src/data/transforms/channel_shift.js';
import { flipHorizontal, flipVertical } from '../../src/data/transforms/flip.js';
import { applyBrightness } from '../../src/data/transforms/brightness.js';
import { featurewiseCenter, featurewiseStdNormalize, samplewiseCenter, samplewiseStdNormalize, zcaWhiten } from '../../src/data/transforms/standardize.js';
import { fitZca } from '../../src/data/transforms/zca.js';
import { preprocessInputArray } from '../../src/data/preprocess_input.js';

const ref = JSON.parse(readFileSync(new URL('../fixtures/data/reference.json', import.meta.url), 'utf8'));
const [H, W, C] = ref.image.shape as [number, number, number];
const image = () => Float32Array.from(ref.image.data as number[]);

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: element ${at} is ${actual[at]}, expected ${expected[at]} (rel. error ${worst})`);
}

test('affine resample equals scipy.ndimage.affine_transform for every fill mode, order 0 and 1', () => {
  assert.equal(ref.affine.length, 64);
  let edgeCases = 0;
  for (const c of ref.affine) {
    const m = affineMatrix(c.params, H, W);
    assert.ok(m, 'non-identity params give a matrix');
    const out = resampleAffine(image(), H, W, C, m!, { fillMode: c.fillMode as FillMode, order: c.order, cval: c.cval });
    const expected = Float32Array.from(c.output as number[]);
    for (let i = 0; i < out.length; i++) {
      if (Math.abs(out[i] - expected[i]) <= 2e-5 * Math.max(1, Math.abs(expected[i]))) continue;
      // A coordinate that is exactly on the image edge in exact arithmetic lands 1e-16 inside or
      // outside depending on how the matrix products round (numpy's BLAS vs ours): 'constant' then
      // gives cval on one side and the edge pixel on the other, 'wrap' the opposite edge. We take the
      // exact value (on the edge); only such pixels may differ from scipy.
      const p = Math.floor(i / C);
      const r = Math.floor(p / W);
      const col = p % W;
      const y = m!.m00 * r + m!.m01 * col + m!.offsetRow;
      const x = m!.m10 * r + m!.m11 * col + m!.offsetCol;
      const onEdge = [y, y - (H - 1), x, x - (W - 1)].some((d) => Math.abs(d) < 1e-9);
      assert.ok(onEdge, `affine ${JSON.stringify(c.params)} ${c.fillMode} order ${c.order}: element ${i} is ${out[i]}, expected ${expected[i]}`);
      edgeCases++;
    }
  }
  assert.ok(edgeCases <= 12, `${edgeCases} exact-edge differences`);
});

test('identity parameters give no matrix (Keras skips the resample)', () => {
  assert.equal(affineMatrix({ theta: 0, tx: 0, ty: 0, shear: 0, zx: 1, zy: 1 }, 5, 5), null);
});

test('tx moves content horizontally and ty vertically (not swapped as in current Keras)', () => {
  // A single bright pixel at row 2, col 2 of a 5x5 image; tx = 1 samples in[r, c+1]: the pixel moves left.
  const x = new Float32Array(25);
  x[2 * 5 + 2] = 1;
  const left = resampleAffine(x, 5, 5, 1, affineMatrix({ tx: 1 }, 5, 5)!, { fillMode: 'constant', order: 0 });
  assert.equal(left[2 * 5 + 1], 1);
  const up = resampleAffine(x, 5, 5, 1, affineMatrix({ ty: 1 }, 5, 5)!, { fillMode: 'constant', order: 0 });
  assert.equal(up[1 * 5 + 2], 1);
});

test('positive theta turns the content counter-clockwise as displayed (Keras 3)', () => {
  // A pixel right of the centre of a 5x5 image ends above it after +90 degrees.
  const x = new Float32Array(25);
  x[2 * 5 + 4] = 1;
  const out = resampleAffine(x, 5, 5, 1, affineMatrix({ theta: 90 }, 5, 5)!, { fillMode: 'constant', order: 0 });
  assert.equal(out[0 * 5 + 2], 1);
});

test('zoom factor < 1 enlarges the content (zooms in)', () => {
  const x = new Float32Array(9 * 9);
  for (let r = 3; r <= 5; r++) for (let c = 3; c <= 5; c++) x[r * 9 + c] = 1;
  const count = (a: Float32Array) => a.reduce((s, v) => s + (v > 0.5 ? 1 : 0), 0);
  const zin = resampleAffine(x, 9, 9, 1, affineMatrix({ zx: 0.5, zy: 0.5 }, 9, 9)!, { fillMode: 'constant', order: 0 });
  assert.ok(count(zin) > 9, `zoomed in: ${count(zin)} bright pixels`);
});

test('mapCoordinate folds like scipy (reflect half-sample, legacy wrap with period n-1)', () => {
  assert.equal(mapCoordinate(-0.3, 5, 'constant'), -1);
  assert.equal(mapCoordinate(-1.3, 5, 'nearest'), 0);
  assert.ok(Math.abs(mapCoordinate(-1.3, 5, 'reflect') - 0.3) < 1e-12);
  assert.ok(Math.abs(mapCoordinate(4.7, 5, 'wrap') - 0.7) < 1e-12);
});

test('channel shift clips to the image range, as Keras', () => {
  assertClose(applyChannelShift(image(), ref.channelShift.intensity), ref.channelShift.output, 1e-6, 'channel shift');
});

test('flips', () => {
  assertClose(flipHorizontal(image(), H, W, C), ref.flipHorizontal, 1e-7, 'horizontal flip');
  assertClose(flipVertical(image(), H, W, C), ref.flipVertical, 1e-7, 'vertical flip');
});

test('brightness equals Keras (PIL ImageEnhance via array_to_img) for RGB, L, RGBA and values outside 0-255', () => {
  for (const c of ref.brightness) {
    const out = applyBrightness(Float32Array.from(c.input), c.factor, c.shape[2]);
    // In range the result is whole numbers, equal exactly; outside, mapped back to the range in float32.
    assertClose(out, c.output, c.name === 'wide' ? 1e-6 : 0, `brightness ${c.name} x${c.factor}`);
  }
});

test('samplewise and featurewise standardization', () => {
  assertClose(samplewiseStdNormalize(samplewiseCenter(image())), ref.samplewise, 1e-5, 'samplewise');
  const fw = featurewiseStdNormalize(featurewiseCenter(image(), ref.featurewise.mean), ref.featurewise.std);
  assertClose(fw, ref.featurewise.output, 1e-5, 'featurewise');
});

test('ZCA principal components equal the SVD-based Keras formula', () => {
  const [n, h, w, c] = ref.fit.shape;
  const d = h * w * c;
  const x = Float32Array.from(ref.fit.data as number[], (v) => v * ref.fit.rescale);
  featurewiseCenter(x, ref.fit.mean);
  const pcs = fitZca(x, n, d, 1e-6);
  assertClose(pcs, ref.fit.principalComponents, 2e-3, 'principal components');
  const probe = x.slice(0, d);
  assertClose(zcaWhiten(probe, Float32Array.from(ref.fit.principalComponents)), ref.fit.whitenedFirst, 1e-4, 'whitened sample');
});

test('preprocess_input modes tf, caffe, torch, none', () => {
  for (const mode of ['tf', 'caffe', 'torch'] as const) {
    assertClose(preprocessInputArray(image(), 3, mode), ref.preprocessInput[mode], 1e-5, `preprocess ${mode}`);
  }
  assertClose(preprocessInputArray(image(), 3, 'none'), ref.image.data, 1e-7, 'preprocess none');
  // Spot values pinned by hand: tf maps 0 -> -1 and 255 -> 1; caffe swaps to BGR and subtracts the means.
  const px = Float32Array.from([0, 127.5, 255]);
  assert.deepEqual([...preprocessInputArray(px.slice(), 3, 'tf')], [-1, 0, 1]);
  const caffe = preprocessInputArray(Float32Array.from([10, 20, 30]), 3, 'caffe');
  assertClose(caffe, [30 - 103.939, 20 - 116.779, 10 - 123.68], 1e-6, 'caffe pixel');
  const torch = preprocessInputArray(Float32Array.from([255, 0, 127.5]), 3, 'torch');
  assertClose(torch, [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0.5 - 0.406) / 0.225], 1e-6, 'torch pixel');
});

test('brightness with values outside 0-255 (stretch, enhance, map back) equals the plain float32 chain', () => {
  const f32 = Math.fround;
  const n = 20000;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = i % 3 === 0 ? (i % 256) : (Math.sin(i) * 0.5 + 0.5) * 300 - 20;
  for (const factor of [0.8, 1.0, 1.2, 1.37]) {
    const min = x.reduce((a, b) => Math.min(a, b));
    const max = f32(x.reduce((a, b) => Math.max(a, b)) - min);
    const expected = Array.from(x, (v) => {
      const u = Math.trunc(f32(f32(f32(v - min) / max) * 255));
      let e = f32(f32(factor) * u);
      e = e >= 255 ? 255 : Math.trunc(e);
      return f32(f32(f32(e / 255) * max) + min);
    });
    assert.deepEqual([...applyBrightness(x.slice(), factor, 1)], expected, `factor ${factor}`);
  }
});

test('ZCA with fewer samples than dimensions keeps only n components (thin SVD, as Keras)', () => {
  const small = Float32Array.from(ref.fit.small as number[]);
  const pcs = fitZca(small, 5, 12, 1e-6);
  assertClose(pcs, ref.fit.principalComponentsSmall, 2e-3, 'principal components, n < D');
});
