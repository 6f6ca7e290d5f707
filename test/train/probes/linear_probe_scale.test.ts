// The probe at scale: the onnxruntime path agrees with the Float64 reference path, C is chosen on a
// stratified subsample, out-of-fold probabilities come from models that did not see the row, progress is reported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Random } from '../../../src/core/random.js';
import type { ProgressEvent } from '../../../src/core/progress.js';
import { linearProbe, runLinearProbe, stratifiedSubsample, type DenseRows } from '../../../src/train/probes/linear_probe.js';

/** Gaussian classes around random centres (+ optional pure-noise labels): float32 rows, no two alike. */
function blobs(n: number, d: number, classes: number, seed: number, options: { separation?: number; noiseLabels?: boolean } = {}): { rows: DenseRows; labels: Int32Array } {
  const shared = new Random(99);
  const centres = Float32Array.from({ length: classes * d }, () => shared.uniform(-1, 1) * (options.separation ?? 1));
  const r = new Random(seed);
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = i % classes;
    labels[i] = options.noiseLabels ? r.int(classes) : y;
    for (let j = 0; j < d; j++) x[i * d + j] = centres[y * d + j] + r.uniform(-1, 1) + 2;
  }
  return { rows: { x, n, d }, labels };
}

function accuracy(probabilities: Float32Array, classes: number, labels: Int32Array): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probabilities[i * classes + c] > probabilities[i * classes + best]) best = c;
    if (best === labels[i]) right++;
  }
  return right / labels.length;
}

test('runLinearProbe on onnxruntime (float32 products) matches the Float64 TypeScript probe', async () => {
  for (const classes of [2, 4]) {
    const train = blobs(600, 48, classes, 1, { separation: 0.3 });
    const heldOut = blobs(300, 48, classes, 2, { separation: 0.3 });
    const options = { cvRows: 300, tolerance: 1e-6 };
    const reference = linearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, classes, options);
    // Blocks of 64 rows: several onnxruntime calls per pass, on views into the features and on gathered rows.
    const onnx = await runLinearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, classes, { ...options, engine: 'onnx', blockRows: 64 });
    assert.equal(reference.engine, 'typescript');
    assert.equal(onnx.engine, 'onnx');
    assert.equal(onnx.cvRows, 300, 'C chosen on the subsample');
    assert.equal(onnx.c, reference.c, `${classes} classes: same C`);
    assert.ok(reference.accuracy > 1 / classes + 0.1, `${classes} classes: a problem worth probing (${reference.accuracy})`);
    assert.ok(Math.abs(onnx.accuracy - reference.accuracy) <= 2 / heldOut.rows.n, `${classes} classes: held-out ${onnx.accuracy} vs ${reference.accuracy}`);
    assert.ok(Math.abs(onnx.trainAccuracy - reference.trainAccuracy) <= 2 / train.rows.n, `${classes} classes: train ${onnx.trainAccuracy} vs ${reference.trainAccuracy}`);
    onnx.cvAccuracy.forEach((r, i) => assert.ok(Math.abs(r.accuracy - reference.cvAccuracy[i].accuracy) <= 2 / 300, `cv at C=${r.c}`));
  }
});

test('Float32 and Float64 features give the same probe', async () => {
  const train = blobs(200, 16, 3, 3, { separation: 0.4 });
  const heldOut = blobs(90, 16, 3, 4, { separation: 0.4 });
  const as64 = (r: DenseRows): DenseRows => ({ ...r, x: Float64Array.from(r.x) });
  const a = linearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, 3);
  const b = linearProbe(as64(train.rows), train.labels, as64(heldOut.rows), heldOut.labels, 3);
  assert.deepEqual({ ...a, seconds: 0 }, { ...b, seconds: 0 });
  const c = await runLinearProbe(as64(train.rows), train.labels, as64(heldOut.rows), heldOut.labels, 3, { engine: 'onnx' });
  const d = await runLinearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, 3, { engine: 'onnx' });
  assert.deepEqual({ ...c, seconds: 0 }, { ...d, seconds: 0 });
});

test('out-of-fold probabilities: one row per training row, from a model that did not train on it', async () => {
  // Labels are noise and C is weak: every model learns its own rows (train accuracy high) and knows
  // nothing of the others (accuracy near chance). Scoring rows with the model that saw them would show it.
  const classes = 3;
  const train = blobs(240, 120, classes, 5, { noiseLabels: true });
  const heldOut = blobs(60, 120, classes, 6, { noiseLabels: true });
  for (const [name, cvRows] of [['all rows in the cross-validation', 240], ['C on a subsample, the other rows scored by the folds\' mean model', 120]] as const) {
    for (const engine of ['typescript', 'onnx'] as const) {
      const r = await runLinearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, classes, { cGrid: [10], keepOutOfFold: true, cvRows, engine });
      const p = r.outOfFoldProbabilities!;
      assert.ok(p instanceof Float32Array, `${name} (${engine})`);
      assert.equal(p.length, 240 * classes);
      for (let i = 0; i < 240; i++) {
        const sum = p[i * classes] + p[i * classes + 1] + p[i * classes + 2];
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i} sums to ${sum}`);
      }
      const oof = accuracy(p, classes, train.labels);
      assert.ok(r.trainAccuracy > 0.95, `${name} (${engine}): the model memorises its rows (${r.trainAccuracy})`);
      assert.ok(oof < 0.5, `${name} (${engine}): out-of-fold accuracy ${oof} is near chance, far below the train accuracy`);
    }
  }
  const without = await runLinearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, classes, { cGrid: [10] });
  assert.equal(without.outOfFoldProbabilities, undefined);
});

test('out-of-fold probabilities of a learnable problem rank the true class first about as often as the held-out accuracy', async () => {
  const train = blobs(300, 20, 2, 7, { separation: 0.25 });
  const heldOut = blobs(300, 20, 2, 8, { separation: 0.25 });
  const r = await runLinearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, 2, { keepOutOfFold: true });
  const oof = accuracy(r.outOfFoldProbabilities!, 2, train.labels);
  assert.ok(Math.abs(oof - r.accuracy) < 0.08, `out-of-fold ${oof} vs held-out ${r.accuracy}`);
  assert.ok(oof > 0.7);
});

test('progress: percent of the planned fits, rising, ending with done at 100', async () => {
  const train = blobs(400, 32, 3, 9, { separation: 0.3 });
  const heldOut = blobs(100, 32, 3, 10, { separation: 0.3 });
  for (const engine of ['typescript', 'onnx'] as const) {
    const events: ProgressEvent[] = [];
    await runLinearProbe(train.rows, train.labels, heldOut.rows, heldOut.labels, 3, { engine, cvRows: 200, keepOutOfFold: true, onProgress: (e) => events.push(e) });
    assert.ok(events.length > 10, `${engine}: ${events.length} events`);
    assert.ok(events.every((e) => e.task === 'linear probe' && e.total === 100 && e.unit === '%'));
    for (let i = 1; i < events.length; i++) assert.ok(events[i].current >= events[i - 1].current, `${engine}: event ${i} goes back: ${events[i - 1].current} -> ${events[i].current}`);
    assert.deepEqual({ current: events.at(-1)!.current, done: events.at(-1)!.done }, { current: 100, done: true });
    assert.equal(events.filter((e) => e.done).length, 1);
    assert.ok(events.some((e) => e.current > 0 && e.current < 100 && e.metrics?.loss !== undefined), 'iterations report the loss');
  }
});

test('stratifiedSubsample keeps each class its share, spread over its rows, ascending', () => {
  const y = Array.from({ length: 1000 }, (_, i) => (i < 700 ? 0 : i < 900 ? 1 : 2));
  const s = stratifiedSubsample(y, 100);
  assert.equal(s.length, 100);
  const counts = [0, 0, 0];
  for (const i of s) counts[y[i]]++;
  assert.deepEqual(counts, [70, 20, 10]);
  for (let i = 1; i < s.length; i++) assert.ok(s[i] > s[i - 1]);
  assert.ok(s[0] < 10 && s[69] > 690, 'spread over the class, not its first rows');
  assert.deepEqual(Array.from(stratifiedSubsample([1, 0, 1], 5)), [0, 1, 2]);
});

test('bad probe options are typed errors naming the option', async () => {
  const t = blobs(20, 4, 2, 1);
  await assert.rejects(() => runLinearProbe(t.rows, t.labels, t.rows, t.labels, 2, { cvRows: 3 }), /cvRows/);
  await assert.rejects(() => runLinearProbe(t.rows, t.labels, t.rows, t.labels, 2, { engine: 'gpu' as never }), /engine/);
  await assert.rejects(() => runLinearProbe(t.rows, t.labels.subarray(1), t.rows, t.labels, 2), /trainLabels/);
});
