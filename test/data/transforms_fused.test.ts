// The one-pass augmentation (resample straight from decoded bytes, flips where the resample writes,
// brightness as a table on what it writes) gives exactly the values of Keras's sequence of separate
// passes (resample, flips, brightness: each kernel checked against scipy/PIL in transforms.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resampleAffine, type FillMode } from '../../src/data/transforms/affine.js';
import { affineMatrix, applyTransformToArray, type TransformParams } from '../../src/data/transforms/apply_transform.js';
import { applyBrightness } from '../../src/data/transforms/brightness.js';
import { flipHorizontal, flipVertical } from '../../src/data/transforms/flip.js';
import { applyChannelShift } from '../../src/data/transforms/channel_shift.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return (s >>> 8) / 16777216;
  };
}

/** Keras's order, one kernel per pass, on float32 pixels. */
function separatePasses(bytes: Uint8Array, h: number, w: number, c: number, p: TransformParams, fillMode: FillMode, cval: number, order: 0 | 1): Float32Array {
  let x: Float32Array = Float32Array.from(bytes);
  const m = affineMatrix(p, h, w);
  if (m) x = resampleAffine(x, h, w, c, m, { fillMode, cval, order });
  if (p.channelShiftIntensity != null) applyChannelShift(x, p.channelShiftIntensity);
  if (p.flipHorizontal) flipHorizontal(x, h, w, c);
  if (p.flipVertical) flipVertical(x, h, w, c);
  if (p.brightness != null) applyBrightness(x, p.brightness, c);
  return x;
}

test('applyTransformToArray on decoded bytes equals the separate Keras passes, bit for bit', () => {
  const r = rng(7);
  const modes: FillMode[] = ['constant', 'nearest', 'reflect', 'wrap'];
  let fusedCases = 0;
  for (let t = 0; t < 160; t++) {
    const c = [1, 3, 3, 4][t % 4];
    const h = 9 + Math.floor(r() * 12);
    const w = 9 + Math.floor(r() * 12);
    const bytes = Uint8Array.from({ length: h * w * c }, () => Math.floor(r() * 256));
    const fillMode = modes[t % 4];
    const cval = [0, 255, 300, -5][Math.floor(r() * 4)];
    const order = (t % 5 === 0 ? 0 : 1) as 0 | 1;
    const p: TransformParams = {
      theta: r() < 0.8 ? (r() - 0.5) * 60 : 0,
      tx: r() < 0.5 ? (r() - 0.5) * 6 : 0,
      ty: r() < 0.5 ? (r() - 0.5) * 6 : 0,
      shear: r() < 0.3 ? (r() - 0.5) * 20 : 0,
      zx: r() < 0.4 ? 0.8 + r() * 0.4 : 1,
      zy: r() < 0.4 ? 0.8 + r() * 0.4 : 1,
      flipHorizontal: r() < 0.5,
      flipVertical: r() < 0.3,
      brightness: r() < 0.7 ? 0.6 + r() * 0.8 : null,
      channelShiftIntensity: r() < 0.15 ? (r() - 0.5) * 40 : null,
    };
    const settings = { fillMode, cval, interpolationOrder: order };
    const want = separatePasses(bytes, h, w, c, p, fillMode, cval, order);
    const before = bytes.slice();
    const got = applyTransformToArray(bytes, h, w, c, p, settings, new Float32Array(h * w * c));
    assert.deepEqual(bytes, before, 'decoded bytes are not modified');
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
      if (!Object.is(got[i], want[i])) assert.fail(`case ${t} (${JSON.stringify({ c, h, w, fillMode, cval, order, p })}): value ${i} is ${got[i]}, separate passes give ${want[i]}`);
    }
    // The float path (the Keras-compatible tensor API) also matches.
    assert.deepEqual(applyTransformToArray(Float32Array.from(bytes), h, w, c, p, settings), want);
    if (p.brightness != null && p.channelShiftIntensity == null && c !== 4) fusedCases++;
  }
  assert.ok(fusedCases > 40, `${fusedCases} cases went through the fused brightness table`);
});

test('standardize done by the sample job (main thread or worker, fresh or kept pixels) gives the values of standardize then copy', async () => {
  const { mkdtempSync, mkdirSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { default: sharp } = await import('sharp');
  const { ImageDataGenerator } = await import('../../src/data/image_data_generator.js');
  const { preprocessInput, preprocessInputArray } = await import('../../src/data/preprocess_input.js');
  const { initEngine, tf } = await import('../../src/engines/tfjs/tf.js');
  await initEngine();
  const root = mkdtempSync(join(tmpdir(), 'tlkit-standardize-in-job-'));
  try {
    const r = rng(3);
    for (let i = 0; i < 6; i++) {
      mkdirSync(join(root, `c${i % 2}`), { recursive: true });
      const px = Buffer.from(Array.from({ length: 20 * 14 * 3 }, () => Math.floor(r() * 256)));
      await sharp(px, { raw: { width: 20, height: 14, channels: 3 } }).png().toFile(join(root, `c${i % 2}`, `${i}.png`));
    }
    const augmentation = { rotationRange: 30, horizontalFlip: true, brightnessRange: [0.7, 1.3] as [number, number] };
    // The same arithmetic as a function tlkit does not recognise: standardize runs on the main thread, then the copy.
    const opaque = (mode: 'tf' | 'caffe') => Object.assign((x: unknown) => x, { applyInPlace: (d: Float32Array, c: number) => void preprocessInputArray(d, c, mode) });
    const epochs = async (options: Record<string, unknown>, workers: number) => {
      const it = new ImageDataGenerator(options).flowFromDirectory(root, { targetSize: [12, 12], batchSize: 4, seed: 2, workers });
      const out: number[][] = [];
      try {
        for (let epoch = 0; epoch < 2; epoch++) {
          for await (const b of it.epochBatches()) {
            out.push(Array.from(await b.x.data()));
            tf.dispose([b.x, b.y!]);
          }
        }
      } finally {
        await it.close();
      }
      return out;
    };
    const noOp = Object.assign((x: unknown) => x, { applyInPlace: () => undefined });
    const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ['rescale', { rescale: 1 / 255 }, { rescale: 1 / 255, preprocessingFunction: noOp }],
      ['tf mode', { preprocessingFunction: preprocessInput('tf') }, { preprocessingFunction: opaque('tf') }],
      ['caffe mode then rescale', { preprocessingFunction: preprocessInput('caffe'), rescale: 0.5 }, { preprocessingFunction: opaque('caffe'), rescale: 0.5 }],
    ];
    for (const [name, inJob, reference] of cases) {
      for (const augment of [false, true]) {
        const extra = augment ? augmentation : {};
        const expected = await epochs({ ...extra, ...reference }, 0);
        assert.ok(expected.flat().some((v) => v !== Math.round(v)), `${name}: standardized values`);
        for (const workers of [0, 1]) {
          assert.deepEqual(await epochs({ ...extra, ...inJob }, workers), expected, `${name}, augment ${augment}, workers ${workers}`);
        }
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
