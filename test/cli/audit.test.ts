// tlkit audit's JSON shape and files, and --exclude: files it names are not read by train.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli } from '../helpers/io.js';
import { parseExcludeList } from '../../src/data/exclude_list.js';

const SAMPLE = join(import.meta.dirname, '..', '..', 'samples', 'fashion-shoes');
let root: string;
let trainDir: string;
let testDir: string;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tlkit-audit-cli-'));
  trainDir = join(root, 'train');
  testDir = join(root, 'test');
  const jobs: Promise<unknown>[] = [];
  for (const c of ['sandal', 'sneaker']) {
    mkdirSync(join(trainDir, c), { recursive: true });
    mkdirSync(join(testDir, c), { recursive: true });
    for (const name of readdirSync(join(SAMPLE, 'train', c)).sort().slice(0, 24)) jobs.push(sharp(join(SAMPLE, 'train', c, name)).resize(96, 96).png().toFile(join(trainDir, c, name)));
    for (const name of readdirSync(join(SAMPLE, 'test', c)).sort().slice(0, 8)) jobs.push(sharp(join(SAMPLE, 'test', c, name)).resize(96, 96).png().toFile(join(testDir, c, name)));
  }
  await Promise.all(jobs);
  // One test image also in train, re-encoded: a leak.
  const leaked = readdirSync(join(testDir, 'sneaker')).sort()[0];
  await sharp(join(testDir, 'sneaker', leaked)).resize(120, 120).jpeg({ quality: 85 }).toFile(join(trainDir, 'sneaker', 'leaked.jpg'));
});

test('tlkit audit --json: the issue\'s shape, a leak named, files relative to their folder', async () => {
  const r = await runCli(['audit', trainDir, '--val-dir', testDir, '--json', '--backbones', 'mobilenet_v2', '--weights', 'nsfwjs', '--input-size', '32']);
  assert.equal(r.code, 0, r.stderr);
  const audit = JSON.parse(r.stdout);
  for (const key of ['labelIssues', 'duplicates', 'outliers', 'classes', 'counts']) assert.ok(key in audit, key);
  for (const i of audit.labelIssues) assert.deepEqual(Object.keys(i).sort(), ['file', 'givenLabel', 'score', 'split', 'suggestedLabel']);
  const leak = audit.duplicates.find((d: { leak: boolean }) => d.leak);
  assert.ok(leak, JSON.stringify(audit.duplicates));
  assert.deepEqual(Object.keys(leak).sort(), ['files', 'kind', 'leak', 'similarity']);
  assert.deepEqual(leak.files.map((f: { file: string; split: string }) => `${f.split}:${f.file}`).sort(), [`train:sneaker/leaked.jpg`, `validation:sneaker/${readdirSync(join(testDir, 'sneaker')).sort()[0]}`]);
  assert.equal(leak.kind, 'near');
  assert.deepEqual(audit.classes.map((c: { name: string; train: number; validation: number }) => [c.name, c.train, c.validation]), [['sandal', 24, 8], ['sneaker', 25, 8]]);
  assert.deepEqual(audit.backbones, ['mobilenet_v2']);
});

test('tlkit audit --out writes audit.json, audit.csv (keep column) and audit.html; the table names the leak', async () => {
  const out = join(root, 'audit-out');
  const r = await runCli(['audit', trainDir, '--val-dir', testDir, '--backbones', 'none', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 train\/validation leaks/);
  assert.match(r.stdout, /LEAK near/);
  assert.match(r.stdout, /Class balance:/);
  const csv = readFileSync(join(out, 'audit.csv'), 'utf8');
  assert.match(csv.split('\n')[0], /^file,split,finding,givenLabel,suggestedLabel,score,group,keep$/);
  // The training copy of the leak is marked keep=false: --exclude reads it back.
  assert.deepEqual(parseExcludeList(csv, 'audit.csv').train, ['sneaker/leaked.jpg']);
  assert.match(readFileSync(join(out, 'audit.html'), 'utf8'), /data:image\/jpeg;base64,/);
  assert.equal(JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8')).counts.leaks, 1);
  const bad = await runCli(['audit', trainDir, '--backbones', 'no_such_net']);
  assert.equal(bad.code, 2);
});

test('tlkit train --exclude: the listed files are not read, the run says how many were left out, unknown entries warn', async () => {
  // An unreadable file the list excludes: reading it would log a skipped file.
  writeFileSync(join(trainDir, 'sandal', 'broken.png'), 'not a png');
  const list = join(root, 'exclude.txt');
  writeFileSync(list, '# left out\nsandal/broken.png\nsneaker/leaked.jpg\nsneaker/no-such-file.png\n');
  const out = join(root, 'run');
  const r = await runCli(['train', trainDir, '--backbone', 'mobilenet', '--alpha', '0.25', '--weights', 'none', '--input-size', '32', '--epochs', '1', '--batch-size', '8', '--class-mode', 'sparse', '--seed', '3', '--validation-split', '0.25', '--exclude', list, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /broken\.png/);
  assert.match(r.stderr, /exclude: left out 2 training and 0 validation images/);
  assert.match(r.stderr, /1 entry names no image.*sneaker\/no-such-file\.png/);
  // 24 + 25 + broken - 2 excluded = 48 files; validation split 0.25 of each class's 25 / 26 files (6 + 6).
  assert.match(r.stderr, /data: 36 training images/);
  const missing = await runCli(['train', trainDir, '--backbone', 'mobilenet', '--exclude', join(root, 'nope.txt'), '--out', join(root, 'run2')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.txt/);
});
