// `tlkit data`, `tlkit augment` and the shared augmentation flags.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli } from '../helpers/io.js';
import { parseFlags } from '../../src/cli/args.js';
import { augmentationFlagSpec, augmentationOptionsFromFlags } from '../../src/cli/augmentation_flags.js';

let root: string;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tlkit-cli-data-'));
  for (const [c, n] of [['cats', 3], ['dogs', 2]] as const) {
    mkdirSync(join(root, 'ds', c), { recursive: true });
    for (let i = 0; i < n; i++) {
      const px = Buffer.alloc(40 * 30 * 3, 40 * i + (c === 'cats' ? 10 : 120));
      await sharp(px, { raw: { width: 40, height: 30, channels: 3 } }).jpeg().toFile(join(root, 'ds', c, `${i}.jpg`));
    }
  }
  await sharp(Buffer.alloc(20 * 10 * 4, 200), { raw: { width: 20, height: 10, channels: 4 } }).png().toFile(join(root, 'ds', 'dogs', 'alpha.png'));
  writeFileSync(join(root, 'ds', 'dogs', 'broken.jpg'), 'not a jpeg');
  writeFileSync(join(root, 'ds', 'dogs', 'labels.txt'), 'not read');
});

after(() => rmSync(root, { recursive: true, force: true }));

test('augmentation flags map to ImageDataGenerator options', () => {
  const { values } = parseFlags(
    ['--rotation-range', '20', '--width-shift-range', '0.1', '--height-shift-range', '2,4', '--zoom-range', '0.9,1.2', '--brightness-range', '0.8,1.2', '--horizontal-flip', '--fill-mode', 'reflect', '--rescale', '1/255', '--interpolation-order', '0'],
    augmentationFlagSpec,
    'usage',
  );
  assert.deepEqual(augmentationOptionsFromFlags(values), {
    rotationRange: 20,
    widthShiftRange: 0.1,
    heightShiftRange: [2, 4],
    zoomRange: [0.9, 1.2],
    brightnessRange: [0.8, 1.2],
    fillMode: 'reflect',
    horizontalFlip: true,
    rescale: 1 / 255,
    interpolationOrder: 0,
  });
  const bad = parseFlags(['--fill-mode', 'mirror'], augmentationFlagSpec, 'usage').values;
  assert.throws(() => augmentationOptionsFromFlags(bad), /--fill-mode expects one of constant, nearest, reflect, wrap; got 'mirror'/);
});

test('tlkit data reports classes, counts, skipped files with reasons, sizes and modes', async () => {
  const r = await runCli(['data', join(root, 'ds'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.classes, [
    { name: 'cats', index: 0, count: 3, usable: 3 },
    { name: 'dogs', index: 1, count: 4, usable: 3 },
  ]);
  assert.equal(report.skipped.length, 1);
  assert.match(report.skipped[0].file, /broken\.jpg$/);
  assert.match(report.skipped[0].reason, /not an image/);
  assert.deepEqual(report.formats, { jpeg: 5, png: 1 });
  assert.ok(Object.keys(report.modes).every((m) => /^(rgb|grayscale|cmyk) (8|16)-bit$/.test(m)), JSON.stringify(report.modes));
  assert.equal(report.withAlpha, 1);
  assert.deepEqual(report.commonSizes[0], { size: '40x30', count: 5 });
  assert.deepEqual(report.otherFiles, { '.txt': 1 });
  const text = await runCli(['data', join(root, 'ds'), '--validation-split', '0.34', '--subset', 'validation']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /not read \(extension\) \.txt 1; read: png, jpg/);
  assert.match(text.stdout, /subset: validation/);
  assert.match(text.stdout, /cats\s+0\s+1\s+1/);
  const missing = await runCli(['data', join(root, 'nope')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /directory not found/);
  const usage = await runCli(['data', join(root, 'ds'), '--subset', 'validation']);
  assert.equal(usage.code, 2);
});

test('tlkit augment writes N samples and one contact sheet', async () => {
  const out = join(root, 'out');
  const r = await runCli(['augment', join(root, 'ds'), '--out', out, '--count', '5', '--target-size', '24x32', '--rotation-range', '15', '--horizontal-flip', '--seed', '2']);
  assert.equal(r.code, 0, r.stderr);
  const files = readdirSync(out).sort();
  assert.equal(files.filter((f) => /^aug_\d+_\d+\.png$/.test(f)).length, 5);
  assert.ok(files.includes('contact_sheet.png'));
  const meta = await sharp(join(out, 'contact_sheet.png')).metadata();
  assert.deepEqual([meta.width, meta.height], [3 * 32 + 4 * 2, 2 * 24 + 3 * 2]);
  const sample = await sharp(join(out, files[0])).metadata();
  assert.deepEqual([sample.width, sample.height], [32, 24]);
  assert.match(r.stderr, /skipped .*broken\.jpg/);
  const noOut = await runCli(['augment', join(root, 'ds')]);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /--out OUTDIR is required/);
});
