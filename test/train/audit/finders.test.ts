// The audit's finders on synthetic data: hashes, duplicate clustering (multi-index candidates against
// brute force), label issues, the out-of-fold classifier, outliers, class balance, and the CSV / exclude
// list round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../../../src/core/random.js';
import { dHash, hamming, hashChunk, lowFrequencies, lowFrequencySignature, pHash, pHashOfLow, type Hash64 } from '../../../src/data/perceptual_hash.js';
import { findDuplicates, pHashCandidatePairs } from '../../../src/train/audit/duplicates.js';
import type { ImageFingerprint } from '../../../src/train/audit/image_fingerprints.js';
import * as perceptual from '../../../src/data/perceptual_hash.js';
import { findLabelIssues } from '../../../src/train/audit/label_issues.js';
import { ridgeOutOfFold } from '../../../src/train/audit/out_of_fold.js';
import { nearestNeighbours, neighbourSpace } from '../../../src/train/audit/embeddings.js';
import { findOutliers, neighbourDistances, robustScale } from '../../../src/train/audit/outliers.js';
import { classBalance } from '../../../src/train/audit/class_balance.js';
import { auditCsv } from '../../../src/report/audit_report.js';
import { parseExcludeList } from '../../../src/data/exclude_list.js';
import type { AuditResult } from '../../../src/train/audit/types.js';

function gaussian(rng: Random): number {
  return Math.sqrt(-2 * Math.log(Math.max(rng.random(), 1e-300))) * Math.cos(2 * Math.PI * rng.random());
}

/** A smooth 32x32 picture: a few random blobs. */
function picture(rng: Random): Float64Array {
  const blobs = Array.from({ length: 4 }, () => ({ x: rng.uniform(4, 28), y: rng.uniform(4, 28), r: rng.uniform(3, 9), v: rng.uniform(-120, 120) }));
  const p = new Float64Array(32 * 32);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) p[y * 32 + x] = 128 + blobs.reduce((a, b) => a + b.v * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (b.r * b.r)), 0);
  return p;
}

test('perceptual hashes: unchanged by brightness and contrast, near under noise, far for another picture', () => {
  const rng = new Random(1);
  const a = picture(rng);
  const brighter = a.map((v) => v * 0.8 + 30);
  const noisy = a.map((v) => v + gaussian(rng) * 3);
  const other = picture(rng);
  assert.equal(hamming(pHash(a), pHash(brighter)), 0);
  assert.equal(hamming(dHash(a), dHash(brighter)), 0);
  assert.ok(hamming(pHash(a), pHash(noisy)) <= 6, `pHash noisy ${hamming(pHash(a), pHash(noisy))}`);
  assert.ok(hamming(pHash(a), pHash(other)) > 12, `pHash other ${hamming(pHash(a), pHash(other))}`);
  const sig = (p: Float64Array) => lowFrequencySignature(lowFrequencies(p));
  const dot = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * y[i], 0);
  assert.ok(dot(sig(a), sig(noisy)) > 0.995 && dot(sig(a), sig(other)) < 0.9);
  assert.deepEqual(pHash(a), pHashOfLow(lowFrequencies(a)));
  // Chunks read the hash's bits from the high word down.
  const h: Hash64 = [0x80000001, 0x00000003];
  assert.equal(hashChunk(h, 0, 16), 0x8000);
  assert.equal(hashChunk(h, 1, 16), 0x0001);
  assert.equal(hashChunk(h, 3, 16), 0x0003);
});

function randomHash(rng: Random): Hash64 {
  return [rng.nextUint32(), rng.nextUint32()];
}

function flipBits(h: Hash64, bits: number, rng: Random): Hash64 {
  const out: Hash64 = [h[0], h[1]];
  const chosen = new Set<number>();
  while (chosen.size < bits) chosen.add(rng.int(64));
  for (const b of chosen) out[b < 32 ? 0 : 1] = (out[b < 32 ? 0 : 1] ^ (1 << (31 - (b % 32)))) >>> 0;
  return out;
}

test('multi-index candidates are exactly the pairs within 8 bits (against brute force)', () => {
  const rng = new Random(2);
  const prints: ImageFingerprint[] = [];
  for (let i = 0; i < 300; i++) {
    const base = randomHash(rng);
    prints.push({ content: `c${i}`, pHash: base, dHash: base, signature: new Float32Array(1) });
    // Neighbours at every distance 0..12.
    if (i % 3 === 0) prints.push({ content: `n${i}`, pHash: flipBits(base, i % 13, rng), dHash: base, signature: new Float32Array(1) });
  }
  const brute = new Set<string>();
  for (let i = 0; i < prints.length; i++) for (let j = i + 1; j < prints.length; j++) if (hamming(prints[i].pHash, prints[j].pHash) <= 8) brute.add(`${i},${j}`);
  const found = new Set(pHashCandidatePairs(prints, 8).map(([i, j]) => `${i},${j}`));
  assert.ok(brute.size > 50, `planted pairs: ${brute.size}`);
  assert.deepEqual([...found].sort(), [...brute].sort());
});

test('findDuplicates: exact copies by content, near ones need both hashes and the signature, clusters join', () => {
  const rng = new Random(3);
  const unit = (v: number[]) => {
    const n = Math.hypot(...v);
    return Float32Array.from(v, (x) => x / n);
  };
  const h = randomHash(rng);
  const far = randomHash(rng);
  const sig = unit([1, 2, 3, 4]);
  const prints: (ImageFingerprint | null)[] = [
    { content: 'same', pHash: h, dHash: h, signature: sig }, // 0
    { content: 'same', pHash: h, dHash: h, signature: sig }, // 1: exact copy of 0
    { content: 'x', pHash: flipBits(h, 3, rng), dHash: flipBits(h, 2, rng), signature: unit([1, 2, 3, 4.25]) }, // 2: near 0
    { content: 'y', pHash: flipBits(h, 2, rng), dHash: flipBits(h, 2, rng), signature: unit([4, 3, 2, 1]) }, // 3: hashes near, signature not
    { content: 'z', pHash: flipBits(h, 2, rng), dHash: far, signature: sig }, // 4: dHash far
    { content: 'w', pHash: far, dHash: far, signature: sig }, // 5: unrelated
    null, // 6: unreadable
    { content: 'v', pHash: far, dHash: far, signature: sig }, // 7: near 5 (same hashes and signature, other bytes)
  ];
  const clusters = findDuplicates(prints);
  assert.deepEqual(clusters.map((c) => [c.kind, c.members]), [['near', [0, 1, 2]], ['near', [5, 7]]]);
  assert.ok(clusters[0].similarity > 0.995 && clusters[0].similarity < 1);
  const exact = findDuplicates(prints.slice(0, 2));
  assert.deepEqual(exact.map((c) => [c.kind, c.members, c.similarity]), [['exact', [0, 1], 1]]);
});

/** Three well separated Gaussian classes in 20 dimensions; `flip` rows get another class's label. */
function clusters(n: number, flip: number[], seed: number): { x: Float64Array; labels: Int32Array; truth: Int32Array; d: number } {
  const rng = new Random(seed);
  const d = 20;
  const centres = Array.from({ length: 3 }, () => Array.from({ length: d }, () => gaussian(rng) * 3));
  const x = new Float64Array(n * d);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    truth[i] = i % 3;
    for (let j = 0; j < d; j++) x[i * d + j] = centres[truth[i]][j] + gaussian(rng);
  }
  const labels = Int32Array.from(truth);
  for (const i of flip) labels[i] = (truth[i] + 1) % 3;
  return { x, labels, truth, d };
}

test('label issues: the planted flips are found with their true class, and little else', () => {
  const flip = [5, 17, 40, 77, 101, 150];
  const data = clusters(240, flip, 4);
  const rows = { x: data.x, n: 240, d: data.d };
  const oof = ridgeOutOfFold(rows, data.labels, 3);
  // Out of fold: a flipped row's given class gets little probability.
  for (const i of flip) assert.ok(oof.train[i * 3 + data.labels[i]] < 0.5, `p(given) of ${i}: ${oof.train[i * 3 + data.labels[i]]}`);
  const space = neighbourSpace(rows, 16);
  const neighbours = nearestNeighbours(space, space, 10, true);
  const issues = findLabelIssues(oof.train, data.labels, 3, { neighbours });
  const found = new Set(issues.map((i) => i.index));
  for (const i of flip) assert.ok(found.has(i), `flip ${i} not found: ${JSON.stringify(issues)}`);
  assert.ok(issues.length <= flip.length + 2, `${issues.length} flagged`);
  for (const issue of issues.filter((i) => flip.includes(i.index))) assert.equal(issue.suggested, data.truth[issue.index]);
  // Ranked by score, highest first.
  assert.ok(issues.every((v, i) => i === 0 || issues[i - 1].score >= v.score));
});

test('outliers: a point far from every class scores high, the others do not', () => {
  const data = clusters(150, [], 5);
  const x = new Float64Array(151 * data.d);
  x.set(data.x);
  for (let j = 0; j < data.d; j++) x[150 * data.d + j] = (j % 2 ? 1 : -1) * 9;
  const rows = { x, n: 151, d: data.d };
  const space = neighbourSpace(rows, 20);
  const neighbours = nearestNeighbours(space, space, 5, true);
  const labels = Int32Array.from({ length: 151 }, (_, i) => i % 3);
  const found = findOutliers(neighbours, 151, labels, robustScale(neighbourDistances(neighbours, 151)));
  assert.deepEqual(found.map((o) => o.index), [150]);
});

test('class balance: counts, shares and the imbalance ratio', () => {
  const b = classBalance(['a', 'b'], Int32Array.from([0, 0, 0, 1]), Int32Array.from([1, 1]), [2, 0]);
  assert.deepEqual(b.classes, [
    { name: 'a', train: 3, validation: 0, fraction: 0.75, labelIssues: 2 },
    { name: 'b', train: 1, validation: 2, fraction: 0.25, labelIssues: 0 },
  ]);
  assert.equal(b.imbalanceRatio, 3);
});

test('audit.csv round trip: --exclude reads back the keep=false rows, per split, names with commas and formula-like starts intact', () => {
  const audit = {
    labelIssues: [{ file: 'cats/a,b.jpg', split: 'train', givenLabel: 'cats', suggestedLabel: 'dogs', score: 0.9 }],
    duplicates: [
      { files: [{ file: '=dogs/x.jpg', split: 'train' }, { file: 'dogs/y.jpg', split: 'validation' }], kind: 'near', leak: true, similarity: 0.998 },
      { files: [{ file: 'cats/k.jpg', split: 'train' }, { file: 'cats/k2.jpg', split: 'train' }], kind: 'exact', leak: false, similarity: 1 },
    ],
    outliers: [{ file: 'cats/odd.jpg', split: 'validation', score: 9, givenLabel: 'cats', nearestLabel: 'dogs' }],
  } as unknown as AuditResult;
  const csv = auditCsv(audit);
  assert.match(csv, /"cats\/a,b\.jpg"/);
  assert.match(csv, /\n'=dogs\/x\.jpg,/);
  const list = parseExcludeList(csv, 'audit.csv');
  assert.deepEqual(list.train.sort(), ['=dogs/x.jpg', 'cats/a,b.jpg', 'cats/k2.jpg']);
  assert.deepEqual(list.validation, []);
  // A plain list: one name a line, comments and blanks skipped.
  assert.deepEqual(parseExcludeList('# flagged\ncats/1.jpg\n\n./dogs/2.jpg\r\n', 'list.txt'), { train: ['cats/1.jpg', 'dogs/2.jpg'], validation: [] });
  assert.throws(() => parseExcludeList('file,split\ncats/1.jpg,train\n', 'x.csv'), /keep/);
});

test('areaResize: each output pixel the mean of the area it covers (whole and fractional input pixels)', () => {
  const { areaResize } = perceptual;
  // 64x64 of 2x2 blocks: the block means.
  const big = Float64Array.from({ length: 64 * 64 }, (_, i) => (Math.floor(i / 64) % 2) * 100 + (i % 2) * 10);
  assert.ok(areaResize(big, 64, 64).every((v) => Math.abs(v - 55) < 1e-9));
  // 3x3 to 2x2: the top-left output covers 1.5 x 1.5 input pixels.
  const small = [0, 3, 6, 9, 12, 15, 18, 21, 24];
  const out = areaResize(small, 3, 3, 2);
  assert.ok(Math.abs(out[0] - (0 * 1 + 3 * 0.5 + 9 * 0.5 + 12 * 0.25) / 2.25) < 1e-9);
  assert.equal(areaResize(new Float64Array(96 * 120).fill(7), 96, 120).length, 32 * 32);
});
