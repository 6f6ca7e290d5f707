// The tolerance check the engine tests share: max |a - b| <= tolerance * max(1, max |b|).
import assert from 'node:assert/strict';

/** max |a-b| <= tol * max(1, max|b|). */
export function assertClose(actual: Float32Array | undefined, expected: Float32Array, what: string, tolerance = 1e-4): number {
  assert.ok(actual, `${what}: missing`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(Number.isFinite(worst) && worst <= tolerance * Math.max(1, scale), `${what}: max error ${worst} (scale ${scale})`);
  return worst;
}
