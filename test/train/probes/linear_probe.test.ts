// The linear probe's solver against scipy's L-BFGS-B on the same objective, and its C selection
// against the rule restated in scripts/reference/linear_probe_reference.py (fixture committed).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fitLogisticRegression, linearProbe, predictClasses, stratifiedFolds } from '../../../src/train/probes/linear_probe.js';
import { UsageError } from '../../../src/core/errors.js';
import { belowProbeWarning } from '../../../src/train/probes/frozen_probe.js';

interface Case {
  name: string;
  n: number;
  d: number;
  classes: number;
  c: number;
  x: number[];
  y: number[];
  weights: number[];
  bias: number[];
  accuracy: number;
}
interface Probe {
  classes: number;
  d: number;
  folds: number;
  cGrid: number[];
  xTrain: number[];
  yTrain: number[];
  xTest: number[];
  yTest: number[];
  cvAccuracy: number[];
  c: number;
  accuracy: number;
  trainAccuracy: number;
}
const reference = JSON.parse(readFileSync(new URL('../../fixtures/train/linear_probe.json', import.meta.url), 'utf8')) as { cases: Case[]; probe: Probe };

/** Softmax biases are defined up to a constant: compare them centred. */
function centred(b: ArrayLike<number>): number[] {
  const values = Array.from(b);
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  return values.length === 1 ? values : values.map((v) => v - mean);
}

for (const c of reference.cases) {
  test(`logistic regression (${c.name}, C=${c.c}) matches scipy's L-BFGS-B solution`, () => {
    const data = { x: Float64Array.from(c.x), n: c.n, d: c.d };
    const model = fitLogisticRegression(data, c.y, c.classes, { c: c.c, tolerance: 1e-10, maxIterations: 2000 });
    assert.ok(model.converged, `converged after ${model.iterations} iterations`);
    const scale = Math.max(...c.weights.map(Math.abs));
    c.weights.forEach((w, i) => assert.ok(Math.abs(model.weights[i] - w) <= 1e-5 * scale, `weight ${i}: ${model.weights[i]} vs ${w}`));
    const want = centred(c.bias);
    centred(model.bias).forEach((b, i) => assert.ok(Math.abs(b - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])), `bias ${i}: ${b} vs ${want[i]}`));
    const predicted = predictClasses(model, data);
    const accuracy = predicted.reduce((a, p, i) => a + (p === c.y[i] ? 1 : 0), 0) / c.n;
    assert.equal(accuracy, c.accuracy);
  });
}

test('linearProbe picks C by stratified cross-validation and scores the held-out rows as the reference does', () => {
  const p = reference.probe;
  const train = { x: Float64Array.from(p.xTrain), n: p.yTrain.length, d: p.d };
  const test_ = { x: Float64Array.from(p.xTest), n: p.yTest.length, d: p.d };
  const result = linearProbe(train, p.yTrain, test_, p.yTest, p.classes, { cGrid: p.cGrid, folds: p.folds, tolerance: 1e-9, maxIterations: 2000 });
  assert.deepEqual(result.cvAccuracy.map((r) => r.accuracy), p.cvAccuracy);
  assert.equal(result.c, p.c);
  assert.equal(result.accuracy, p.accuracy);
  assert.equal(result.trainAccuracy, p.trainAccuracy);
  // The fixture is only a meaningful check if the choice of C matters.
  assert.ok(new Set(p.cvAccuracy).size > 1, 'the reference grid separates the C values');
});

test('stratifiedFolds spreads each class over the folds by rank', () => {
  assert.deepEqual(Array.from(stratifiedFolds([0, 0, 1, 0, 1, 1, 0], 3)), [0, 1, 0, 2, 1, 2, 0]);
});

test('bad arguments are typed errors naming the argument', () => {
  const data = { x: new Float64Array(4), n: 2, d: 2 };
  assert.throws(() => fitLogisticRegression(data, [0, 1], 2, { c: 0 }), (e: unknown) => e instanceof UsageError && e.argument === 'c');
  assert.throws(() => fitLogisticRegression(data, [0, 2], 2, { c: 1 }), (e: unknown) => e instanceof UsageError && e.argument === 'y');
  assert.throws(() => linearProbe(data, [0, 1], { x: new Float64Array(3), n: 1, d: 3 }, [0], 2), (e: unknown) => e instanceof UsageError && e.argument === 'heldOut');
});

test('belowProbeWarning: silent within noise of the probe, says what to try beyond it', () => {
  // 500 images at a probe of 0.90: the margin is 0.05 (twice the standard error, 0.027, is smaller).
  assert.equal(belowProbeWarning(0.86, { accuracy: 0.9 }, 500), undefined);
  assert.equal(belowProbeWarning(0.95, { accuracy: 0.9 }, 500), undefined, 'above the probe');
  const w = belowProbeWarning(0.84, { accuracy: 0.9 }, 500);
  assert.match(w ?? '', /^warning: held-out accuracy 0\.840 is below the linear probe's 0\.900 on the same 500 images/);
  assert.match(w ?? '', /--epochs auto/);
  // 16 images at 0.80: twice the standard error is 0.2, so a 0.19 gap is noise and 0.25 is not.
  assert.equal(belowProbeWarning(0.61, { accuracy: 0.8 }, 16), undefined);
  assert.ok(belowProbeWarning(0.55, { accuracy: 0.8 }, 16));
});
