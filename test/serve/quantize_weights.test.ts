// The web export's weight quantization: model.json entries tfjs-core itself decodes (io.decodeWeights,
// what tf.loadLayersModel uses in a browser), uint8 within half a step of each weight, float16 as numpy
// rounds, 1-D weights as float16, and the exported page's weights.bin at most 0.3x (uint8) of float32.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initEngine } from '../../src/engines/tfjs/tf.js';
import { quantizeWeights, toFloat16 } from '../../src/serve/quantize_weights.js';
import { exportWebApp } from '../../src/serve/export_web.js';
import { runCli } from '../helpers/io.js';
import { makeRun, writeTestImages } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'tlkit-webq-'));
before(() => initEngine());
after(() => rmSync(root, { recursive: true, force: true }));

test('toFloat16 rounds like IEEE half precision (numpy astype(float16))', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00], // rounds up to infinity
    [0.1, 0x2e66],
    [1e-8, 0],
    [2 ** -24, 0x0001], // smallest subnormal
    [3 * 2 ** -25, 0x0002], // halfway between subnormals 1 and 2: to even
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: to even
    [Infinity, 0x7c00],
  ];
  const got = toFloat16(Float32Array.from(cases.map(([v]) => v)));
  cases.forEach(([v, bits], i) => assert.equal(got[i], bits, `${v}: 0x${got[i].toString(16)} vs 0x${bits.toString(16)}`));
  assert.ok(Number.isNaN(tf.io.decodeWeights(toFloat16(Float32Array.of(NaN)).buffer as ArrayBuffer, [{ name: 'n', shape: [1], dtype: 'float32', quantization: { dtype: 'float16' } }]).n.dataSync()[0]));
});

test('quantized weights decode in tfjs-core to within the quantization step; 1-D weights are float16', () => {
  const kernel = Float32Array.from({ length: 600 }, (_, i) => Math.sin(i * 0.37) * 0.8 - 0.1);
  const bias = Float32Array.from({ length: 6 }, (_, i) => 1e-4 * (i + 1));
  const specs: tf.io.WeightsManifestEntry[] = [
    { name: 'k', shape: [10, 60], dtype: 'float32' },
    { name: 'b', shape: [6], dtype: 'float32' },
  ];
  const data = new Uint8Array([...new Uint8Array(kernel.buffer), ...new Uint8Array(bias.buffer)]);
  for (const dtype of ['uint8', 'float16'] as const) {
    const q = quantizeWeights(specs, data, dtype);
    assert.equal(q.data.length, 600 * (dtype === 'uint8' ? 1 : 2) + 6 * 2);
    assert.deepEqual(q.specs[1], { ...specs[1], quantization: { dtype: 'float16' } }, 'the bias is float16');
    const decoded = tf.io.decodeWeights(q.data.slice().buffer as ArrayBuffer, q.specs);
    const k = decoded.k.dataSync();
    const quantization = q.specs[0].quantization!;
    const tolerance = dtype === 'uint8' ? quantization.scale! / 2 + 1e-7 : 1e-3;
    let worst = 0;
    kernel.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - k[i]))));
    assert.ok(worst <= tolerance && worst > 0, `${dtype}: largest error ${worst} (tolerance ${tolerance})`);
    decoded.b.dataSync().forEach((v, i) => assert.ok(Math.abs(v - bias[i]) <= bias[i] * 1e-3, `bias ${i}: ${v} vs ${bias[i]}`));
    if (dtype === 'uint8') assert.equal(k[kernel.indexOf(0)] ?? 0, 0, 'zero stays exact');
  }
});

test('export --format web --quantize uint8 writes weights <= 0.3x float32 that tlkit loads back, predicting close to float32', async () => {
  const run = await makeRun(join(root, 'run'), { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [48, 48, 3] }, classNames: ['ant', 'bee', 'cat'], classMode: 'categorical' });
  const float = await exportWebApp(run, join(root, 'web'));
  const r = await runCli(['export', run, '--format', 'web', '--quantize', 'uint8', '--out', join(root, 'web-uint8')]);
  assert.equal(r.code, 0, r.stderr);
  const size = statSync(join(root, 'web-uint8', 'weights.bin')).size;
  assert.equal(statSync(join(root, 'web', 'weights.bin')).size, float.weightsBytes);
  assert.ok(size <= 0.3 * float.weightsBytes!, `uint8 weights ${size} bytes vs float32 ${float.weightsBytes}`);
  assert.match(r.stdout, /weights\.bin [\d.]+ [kM]B \(uint8, float32 would be [\d.]+ [kM]B\)/);
  const manifest = JSON.parse(readFileSync(join(root, 'web-uint8', 'model.json'), 'utf8')).weightsManifest[0].weights as tf.io.WeightsManifestEntry[];
  assert.ok(manifest.filter((w) => w.quantization?.dtype === 'uint8').length >= 52, 'every conv kernel is uint8');

  const images = await writeTestImages(join(root, 'images'));
  const [a, b] = await Promise.all([runCli(['predict', run, ...images, '--json', '--top-k', '3']), runCli(['predict', join(root, 'web-uint8'), ...images, '--json', '--top-k', '3'])]);
  assert.equal(b.code, 0, b.stderr);
  type P = { top: { className: string; probability: number }[] };
  const pa = JSON.parse(a.stdout) as P[];
  const pb = JSON.parse(b.stdout) as P[];
  pa.forEach((p, i) => {
    const q = Object.fromEntries(pb[i].top.map((t) => [t.className, t.probability]));
    for (const t of p.top) assert.ok(Math.abs(t.probability - q[t.className]) < 0.05, `${t.className}: ${t.probability} vs uint8 ${q[t.className]}`);
  });
});
