import assert from 'node:assert/strict';
import test from 'node:test';
import { INT16_MAX, kAxisOrder, quantizeWeightValues } from '../../../src/engines/onnx/weight_quantization.js';

/** Largest |pair sum| VPMADDUBSW would see: a0 |q0| + a1 |q1| over same-sign neighbours along K. */
function worstPair(q: Int8Array, order: ReturnType<typeof kAxisOrder>, codes: (c: number) => number): number {
  let worst = 0;
  for (const { index, inputChannel } of order) {
    for (let k = 0; k + 1 < index.length; k += 2) {
      const [q0, q1] = [q[index[k]], q[index[k + 1]]];
      const sum = Math.sign(q0) === Math.sign(q1) ? codes(inputChannel[k]) * Math.abs(q0) + codes(inputChannel[k + 1]) * Math.abs(q1) : Math.max(codes(inputChannel[k]) * Math.abs(q0), codes(inputChannel[k + 1]) * Math.abs(q1));
      worst = Math.max(worst, sum);
    }
  }
  return worst;
}

function randomWeights(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 1073741824 - 1; // uniform in [-1, 1): many neighbours near the channel's maximum
  });
}

test('kAxisOrder walks a Conv weight [M, C/group, kh, kw] channels-last, as onnxruntime reduces it', () => {
  const conv = { opType: 'Conv', attribute: [] };
  const order = kAxisOrder(conv, [2, 3, 1, 2]);
  // output channel 1: (kw 0: c 0, 1, 2), (kw 1: c 0, 1, 2) -> flat index (o * 3 + c) * 2 + kw
  assert.deepEqual([...order[1].index], [6, 8, 10, 7, 9, 11]);
  assert.deepEqual([...order[1].inputChannel], [0, 1, 2, 0, 1, 2]);
  const grouped = kAxisOrder({ opType: 'Conv', attribute: [{ name: 'group', type: 2, i: 2 }] }, [4, 2, 1, 1]);
  assert.deepEqual([...grouped[3].inputChannel], [2, 3], 'the second group reads input channels 2 and 3');
  const dense = kAxisOrder({ opType: 'Gemm', attribute: [] }, [3, 2]); // B [K, N]
  assert.deepEqual([...dense[1].index], [1, 3, 5]);
});

test('pair-safe int8 weights never let two neighbouring products overflow 16 bits, and stay close to full 8 bits', () => {
  const dims = [16, 64, 1, 1];
  const w = randomWeights(16 * 64, 7);
  const order = kAxisOrder({ opType: 'Conv', attribute: [] }, dims);
  const full = quantizeWeightValues(w, order, true, { qmax: 127, pairSafe: false });
  assert.ok(worstPair(full.q, order, () => 255) > INT16_MAX, 'full-range weights overflow (the test needs such pairs)');

  const safe = quantizeWeightValues(w, order, true, { qmax: 127, pairSafe: true });
  assert.ok(worstPair(safe.q, order, () => 255) <= INT16_MAX);
  const sevenBit = quantizeWeightValues(w, order, true, { qmax: 63, pairSafe: false });
  const error = (r: { q: Int8Array; scales: Float32Array }) => order.reduce((e, { index }, o) => e + index.reduce((s, i) => s + (w[i] - r.q[i] * r.scales[o]) ** 2, 0), 0);
  // Uniform weights are the worst case (many neighbours near the maximum): still below 7 bits.
  assert.ok(error(full) < error(safe) && error(safe) < error(sevenBit), `errors: full ${error(full)}, pair-safe ${error(safe)}, 7-bit ${error(sevenBit)}`);

  // Channels whose codes stay low leave more room: fewer weights are limited, the error is smaller.
  const codes = Float32Array.from({ length: 64 }, (_, c) => (c % 2 ? 255 : 60));
  const lowCodes = quantizeWeightValues(w, order, true, { qmax: 127, pairSafe: true, inputCodeMax: codes });
  assert.ok(worstPair(lowCodes.q, order, (c) => codes[c]) <= INT16_MAX);
  assert.ok(error(lowCodes) < error(safe), `${error(lowCodes)} vs ${error(safe)}`);
});
