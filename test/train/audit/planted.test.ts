// The audit on a set with planted problems, made from the bundled sample (Fashion-MNIST sandals and
// sneakers, written at 96 px as in the issue's set): labels flipped by moving files to the other class,
// test images copied into train resized 1.25x and re-encoded as JPEG, and an image of something else. Precision and recall are scored
// against what was planted.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { auditDataset } from '../../../src/train/audit/audit.js';
import type { AuditResult } from '../../../src/train/audit/types.js';

const SAMPLE = join(import.meta.dirname, '..', '..', '..', 'samples', 'fashion-shoes');
const CLASSES = ['sandal', 'sneaker'];
let trainDir: string;
let testDir: string;
const flipped = new Set<string>();
/** train 'class/name' -> test 'class/name' */
const copies = new Map<string, string>();
const OFF_CLASS = 'sandal/zz_checkerboard.png';

before(async () => {
  const root = mkdtempSync(join(tmpdir(), 'tlkit-audit-planted-'));
  trainDir = join(root, 'train');
  testDir = join(root, 'test');
  for (const c of CLASSES) {
    mkdirSync(join(trainDir, c), { recursive: true });
    mkdirSync(join(testDir, c), { recursive: true });
  }
  const jobs: Promise<unknown>[] = [];
  CLASSES.forEach((c, ci) => {
    const names = readdirSync(join(SAMPLE, 'train', c)).sort().slice(0, 60);
    names.forEach((name, i) => {
      // Every 15th file goes to the other class's folder: 4 flips per class.
      const given = i % 15 === 7 ? CLASSES[1 - ci] : c;
      if (given !== c) flipped.add(`${given}/${name}`);
      jobs.push(at96(join(SAMPLE, 'train', c, name), join(trainDir, given, name)));
    });
    for (const name of readdirSync(join(SAMPLE, 'test', c)).sort().slice(0, 30)) jobs.push(at96(join(SAMPLE, 'test', c, name), join(testDir, c, name)));
  });
  await Promise.all(jobs);
  // Five test images copied into train, upscaled 1.25x and re-encoded as JPEG.
  for (const [c, name] of [['sandal', 0], ['sandal', 5], ['sneaker', 2], ['sneaker', 9], ['sneaker', 20]] as const) {
    const file = readdirSync(join(testDir, c)).sort()[name];
    const copy = `${c}/copy_${file.replace('.png', '.jpg')}`;
    await sharp(join(testDir, c, file)).resize(120, 120, { kernel: 'cubic' }).jpeg({ quality: 85 }).toFile(join(trainDir, copy));
    copies.set(copy, `${c}/${file}`);
  }
  // Something that is neither: a coarse checkerboard.
  const board = Buffer.alloc(96 * 96);
  for (let y = 0; y < 96; y++) for (let x = 0; x < 96; x++) board[y * 96 + x] = ((x >> 4) + (y >> 4)) % 2 ? 255 : 0;
  await sharp(board, { raw: { width: 96, height: 96, channels: 1 } }).png().toFile(join(trainDir, OFF_CLASS));
});

function at96(from: string, to: string): Promise<unknown> {
  return sharp(from).resize(96, 96, { kernel: 'lanczos3' }).png().toFile(to);
}

function leakScores(audit: AuditResult): { precision: number; recall: number } {
  const pairs: string[] = [];
  for (const d of audit.duplicates.filter((g) => g.leak)) {
    for (const a of d.files.filter((f) => f.split === 'train')) for (const b of d.files.filter((f) => f.split === 'validation')) pairs.push(`${a.file}|${b.file}`);
  }
  const right = pairs.filter((p) => copies.get(p.split('|')[0]) === p.split('|')[1]).length;
  return { precision: pairs.length ? right / pairs.length : 0, recall: right / copies.size };
}

test('hashes alone: the re-encoded copies are found as leaks (precision and recall >= 0.9), classes counted', async () => {
  const audit = await auditDataset({ trainDir, valDir: testDir, backbones: [] });
  const s = leakScores(audit);
  assert.ok(s.precision >= 0.9 && s.recall >= 0.9, `leaks precision ${s.precision}, recall ${s.recall}: ${JSON.stringify(audit.duplicates)}`);
  assert.ok(audit.duplicates.filter((d) => d.leak).every((d) => d.kind === 'near'));
  assert.equal(audit.labelIssues.length, 0);
  assert.deepEqual(audit.classes.map((c) => [c.name, c.train, c.validation]), [['sandal', 60 + 2 + 1, 30], ['sneaker', 60 + 3, 30]]);
  assert.deepEqual(audit.counts.images, { train: 126, validation: 60 });
});

test('with a backbone: flipped labels are the top label issues, the odd image ranks among the farthest', async () => {
  // Every image gets an outlier score here (threshold -Infinity): the ranking is what is checked.
  const audit = await auditDataset({ trainDir, valDir: testDir, backbones: ['mobilenet_v2'], weights: 'nsfwjs', inputSize: 96, outlierScore: -Infinity });
  const train = audit.labelIssues.filter((i) => i.split === 'train');
  const hits = train.filter((i) => flipped.has(i.file));
  const precision = train.length ? hits.length / train.length : 0;
  const recall = hits.length / flipped.size;
  // Measured: recall 5/8, precision 5/9 (chance: 8 of 126 images are flipped). Small and two-class: the
  // 10-class bench (bench/audit.ts) is where the issue's bar is measured.
  assert.ok(recall >= 0.5, `recall ${recall}: ${JSON.stringify(train)}`);
  assert.ok(precision >= 0.4, `precision ${precision}: ${JSON.stringify(train)}`);
  assert.ok(flipped.has(train[0].file) || flipped.has(train[1].file), 'a flipped file at the top of the ranking');
  for (const h of hits) assert.equal(h.suggestedLabel, CLASSES.find((c) => !h.file.startsWith(c + '/')), `suggested class of ${h.file}`);
  assert.ok(audit.outliers.slice(0, 3).some((o) => o.file === OFF_CLASS), `outliers: ${JSON.stringify(audit.outliers.slice(0, 5))}`);
  assert.ok(leakScores(audit).recall >= 0.9);
  assert.deepEqual(audit.backbones, ['mobilenet_v2']);
});
