// Bad files are skipped with a warning naming file and reason, counted, and never end an epoch:
// the batch is refilled from the next files, so batch sizes stay stable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { initEngine, tf } from '../../src/engines/tfjs/tf.js';
import { ImageDataGenerator } from '../../src/data/image_data_generator.js';
import { DataError } from '../../src/core/errors.js';

let root: string;
const isRoot = process.getuid?.() === 0;

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A PNG header claiming 30000 x 30000 pixels: tiny on disk, 900 M pixels if decoded. */
function bombPng(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30000, 0);
  ihdr.writeUInt32BE(30000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', Buffer.alloc(16)), pngChunk('IEND', Buffer.alloc(0))]);
}

async function goodImage(path: string, seed: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<void> {
  const px = Buffer.alloc(32 * 24 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 13 + seed * 17) % 256;
  const img = sharp(px, { raw: { width: 32, height: 24, channels: 3 } });
  await (format === 'png' ? img.png() : img.jpeg()).toFile(path);
}

// name -> pattern the reason must match
const expected: Record<string, RegExp> = {
  'bad_truncated.jpg': /corrupt or truncated/,
  'bad_truncated.png': /corrupt or truncated/,
  'bad_zero.jpg': /zero-byte file/,
  'bad_text.jpg': /not an image/,
  'bad_vector.png': /unsupported format 'svg'/,
  'bad_bomb.png': /30000x30000 = 900000000 pixels exceeds the pixel limit/,
  'bad_broken_link.jpg': /broken symbolic link/,
  'bad_unreadable.jpg': /unreadable/,
};

before(async () => {
  await initEngine();
  root = mkdtempSync(join(tmpdir(), 'tlkit-bad-'));
  const a = join(root, 'ds', 'a');
  const b = join(root, 'ds', 'b');
  mkdirSync(a, { recursive: true });
  mkdirSync(b, { recursive: true });
  for (let i = 0; i < 6; i++) await goodImage(join(a, `good${i}.jpg`), i);
  for (let i = 0; i < 3; i++) await goodImage(join(b, `good${i}.png`), 10 + i, 'png');
  await goodImage(join(root, 'full.jpg'), 1);
  await goodImage(join(root, 'full.png'), 2, 'png');
  const jpg = readFileSync(join(root, 'full.jpg'));
  const png = readFileSync(join(root, 'full.png'));
  writeFileSync(join(a, 'bad_truncated.jpg'), jpg.subarray(0, Math.floor(jpg.length / 2)));
  writeFileSync(join(a, 'bad_truncated.png'), png.subarray(0, Math.floor(png.length / 2)));
  writeFileSync(join(a, 'bad_zero.jpg'), Buffer.alloc(0));
  writeFileSync(join(a, 'bad_text.jpg'), 'this is a text file with a .jpg name\n');
  writeFileSync(join(a, 'bad_vector.png'), '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>');
  writeFileSync(join(a, 'bad_bomb.png'), bombPng());
  symlinkSync(join(root, 'does-not-exist.jpg'), join(a, 'bad_broken_link.jpg'));
  if (isRoot) {
    // root reads any file whatever its mode: a link to /proc/self/mem gives a real read error (EIO).
    symlinkSync('/proc/self/mem', join(a, 'bad_unreadable.jpg'));
  } else {
    writeFileSync(join(a, 'bad_unreadable.jpg'), jpg);
    chmodSync(join(a, 'bad_unreadable.jpg'), 0o000);
  }
});

after(() => rmSync(root, { recursive: true, force: true }));

test('every kind of bad file is skipped with its reason, counted once, and batches are refilled', async () => {
  const warnings: string[] = [];
  const gen = new ImageDataGenerator({ rescale: 1 / 255 });
  const it = gen.flowFromDirectory(join(root, 'ds'), { targetSize: [16, 16], batchSize: 4, shuffle: false, onWarning: (m) => warnings.push(m) });
  assert.equal(it.samples, 17);
  assert.equal(it.length, 5, 'before the bad files are known');
  const sizes: number[] = [];
  const seen: number[] = [];
  let skippedInBatches = 0;
  for await (const batch of it.epochBatches()) {
    sizes.push(batch.indices.length);
    seen.push(...batch.indices);
    skippedInBatches += batch.skipped.length;
    tf.dispose([batch.x, batch.y!]);
  }
  // 9 good files: batches of 4, 4, then the last 1; no batch shrank because of a bad file.
  assert.deepEqual(sizes, [4, 4, 1]);
  assert.equal(new Set(seen).size, 9);
  assert.ok(seen.every((i) => it.filenames[i].includes('good')));
  assert.equal(skippedInBatches, 8);
  assert.equal(it.length, 3, 'bad files left out once known: ceil(9 / 4)');
  assert.equal(it.skippedFiles.length, 8);
  for (const [name, pattern] of Object.entries(expected)) {
    const entry = it.skippedFiles.find((s) => s.file.endsWith(name));
    assert.ok(entry, `${name} skipped`);
    assert.match(entry!.reason, pattern, `${name}: ${entry!.reason}`);
    assert.ok(warnings.some((w) => w.includes(name) && w.includes(entry!.reason)), `warning names ${name}`);
  }
  // Second epoch: known-bad files are not retried nor counted again.
  for await (const batch of it.epochBatches()) tf.dispose([batch.x, batch.y!]);
  assert.equal(it.skippedFiles.length, 8);
  assert.equal(warnings.length, 8);
});

test('bad files are skipped the same way on worker threads', async () => {
  const it = new ImageDataGenerator().flowFromDirectory(join(root, 'ds'), { targetSize: [16, 16], batchSize: 4, shuffle: false, workers: 2 });
  const sizes: number[] = [];
  for await (const batch of it.epochBatches()) {
    sizes.push(batch.indices.length);
    tf.dispose([batch.x, batch.y!]);
  }
  await it.close();
  assert.deepEqual(sizes, [4, 4, 1]);
  assert.equal(it.skippedFiles.length, 8);
});

test('a folder where every file is bad fails with a clear error instead of looping', async () => {
  const dir = join(root, 'allbad');
  mkdirSync(join(dir, 'x'), { recursive: true });
  writeFileSync(join(dir, 'x', 'a.jpg'), 'text');
  writeFileSync(join(dir, 'x', 'b.jpg'), Buffer.alloc(0));
  const it = new ImageDataGenerator().flowFromDirectory(dir, { targetSize: [8, 8], batchSize: 2 });
  await assert.rejects(it.next(), (e: Error) => e instanceof DataError && /every one of the 2 files failed to load/.test(e.message));
});

test('limitInputPixels is configurable', async () => {
  const it = new ImageDataGenerator().flowFromDirectory(join(root, 'ds'), { targetSize: [8, 8], batchSize: 32, shuffle: false, limitInputPixels: 100, classes: ['b'] });
  await assert.rejects(it.next(), /every one of the 3 files failed to load.*768 pixels exceeds the pixel limit limitInputPixels=100/);
});
