// The fingerprint store: records round-trip exactly, a second pass over the same files reads every
// fingerprint from the store (on the worker thread or not, the same numbers), and a changed file is
// fingerprinted again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectFingerprints, decodeFingerprint, encodeFingerprint, storedFingerprints } from '../../../src/train/audit/fingerprint_store.js';
import { initEngine } from '../../../src/engines/tfjs/tf.js';
import { ImageDataGenerator } from '../../../src/data/image_data_generator.js';
import { hamming } from '../../../src/data/perceptual_hash.js';
import type { ImageFingerprint } from '../../../src/data/image_fingerprint.js';
import { fingerprintFiles } from '../../../src/train/audit/image_fingerprints.js';
import { fingerprintFilesOffThread } from '../../../src/train/audit/fingerprint_thread.js';

const SAMPLE = join(import.meta.dirname, '..', '..', '..', 'samples', 'fashion-shoes', 'train');

function sampleFiles(dir: string, count: number): string[] {
  const cls = readdirSync(SAMPLE)[0];
  const names = readdirSync(join(SAMPLE, cls)).sort().slice(0, count);
  return names.map((name, i) => {
    const to = join(dir, `${i}-${name}`);
    copyFileSync(join(SAMPLE, cls, name), to);
    return to;
  });
}

test('fingerprint records round-trip exactly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-fp-'));
  try {
    const [print] = await fingerprintFiles(sampleFiles(dir, 1));
    const back = decodeFingerprint(encodeFingerprint(print!));
    assert.deepEqual(back, print);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the worker thread computes the same fingerprints as the calling thread; unreadable files are null', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-fp-'));
  try {
    const files = [...sampleFiles(dir, 6), join(dir, 'missing.png')];
    const here = await fingerprintFiles(files);
    const there = await fingerprintFilesOffThread(files);
    assert.deepEqual(there, here);
    assert.equal(there.at(-1), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a second pass reads every fingerprint from the store; a changed file is fingerprinted again; root false stores nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-fp-'));
  try {
    const root = join(dir, 'cache');
    const files = sampleFiles(dir, 8);
    const first = await storedFingerprints(files, { root });
    assert.equal(first.stored, 0);
    const second = await storedFingerprints(files, { root, thread: false });
    assert.equal(second.stored, files.length);
    assert.deepEqual(second.prints, first.prints);
    const later = new Date(Date.now() + 5000);
    utimesSync(files[0], later, later);
    const third = await storedFingerprints(files, { root });
    assert.equal(third.stored, files.length - 1);
    assert.deepEqual(third.prints, first.prints);
    const off = await storedFingerprints(files, { root: false });
    assert.equal(off.stored, 0);
    assert.deepEqual(off.prints, first.prints);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run\'s decode gives the fingerprints: once per file over two epochs, the same as fingerprintFile at the native size, near it when resized, read back from the store', async () => {
  await initEngine();
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-fp-'));
  try {
    const root = join(dir, 'cache');
    const classDir = join(dir, 'data', 'shoe');
    mkdirSync(classDir, { recursive: true });
    const files = sampleFiles(classDir, 6).sort();
    const generator = new ImageDataGenerator({ rescale: 1 / 255 });
    const seen = new Map<string, number>();
    const it = generator.flowFromDirectory(join(dir, 'data'), { targetSize: [28, 28], batchSize: 4, shuffle: false, classMode: 'sparse', workers: 1 });
    const collector = collectFingerprints([it]);
    const counting = it.onFingerprint!;
    it.onFingerprint = (file, print) => (seen.set(file, (seen.get(file) ?? 0) + 1), counting(file, print));
    for (let epoch = 0; epoch < 2; epoch++) for await (const batch of it.epochBatches()) batch.x.dispose();
    await it.close();
    assert.deepEqual([...seen.values()], files.map(() => 1), 'each file fingerprinted once');
    assert.equal(collector.count, files.length);
    await collector.save(root);
    assert.equal(it.onFingerprint, undefined, 'save detaches the collector');
    const fromFiles = await fingerprintFiles(files);
    const stored = await storedFingerprints(files, { root, thread: false });
    assert.equal(stored.stored, files.length);
    assert.deepEqual(stored.prints, fromFiles);

    // At another input size (nearest upscaling) the hashes stay within a few bits of the file's own.
    const larger = generator.flowFromDirectory(join(dir, 'data'), { targetSize: [64, 64], batchSize: 6, shuffle: false, classMode: 'sparse' });
    const prints = new Map<string, ImageFingerprint>();
    larger.onFingerprint = (file, print) => prints.set(file, print);
    (await larger.next()).x.dispose();
    files.forEach((file, i) => {
      const print = prints.get(file)!;
      assert.equal(print.content, fromFiles[i]!.content);
      assert.ok(hamming(print.pHash, fromFiles[i]!.pHash) <= 8, `pHash distance ${hamming(print.pHash, fromFiles[i]!.pHash)}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
