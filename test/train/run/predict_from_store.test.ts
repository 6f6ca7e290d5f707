// `tlkit predict RUN IMAGE|DIR...` after a run on a frozen backbone reads the backbone's features of the
// images the run stored (no backbone pass for them), computes the others, and predicts what the whole
// model predicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../helpers/io.js';
import { featureLine, SAMPLE, trainStoredRun } from './stored_run.js';

interface Row {
  file: string;
  top: { className: string; probability: number }[];
  error?: string;
}

test('tlkit predict reads a frozen-backbone run\'s stored features, computes the rest, and agrees with the whole model', { timeout: 300_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'tlkit-predict-store-'));
  try {
    const store = join(root, 'cache');
    const valDir = join(SAMPLE, 'test');
    const result = await trainStoredRun(root, store);
    const samples = result.evaluation!.samples;

    const fromStore = await runCli(['predict', join(root, 'run'), valDir, '--json', '--top-k', '2', '--feature-store', store]);
    assert.equal(fromStore.code, 0, fromStore.stderr);
    assert.deepEqual(featureLine(fromStore.stderr), [samples, 0], fromStore.stderr);
    const whole = await runCli(['predict', join(root, 'run'), valDir, '--json', '--top-k', '2', '--no-feature-store']);
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(featureLine(whole.stderr), undefined);
    const a = JSON.parse(fromStore.stdout) as Row[];
    const b = JSON.parse(whole.stdout) as Row[];
    assert.equal(a.length, samples);
    assert.deepEqual(a.map((r) => r.file), b.map((r) => r.file));
    a.forEach((r, i) => {
      assert.equal(r.top[0].className, b[i].top[0].className, r.file);
      assert.ok(Math.abs(r.top[0].probability - b[i].top[0].probability) < 1e-4, `${r.file}: ${r.top[0].probability} vs ${b[i].top[0].probability}`);
    });

    // A copy of a stored image under another path is not in the store (computed, same prediction); a
    // broken file is listed with its error; the stored one is read.
    const klass = readdirSync(valDir)[0];
    const name = readdirSync(join(valDir, klass))[0];
    const stored = join(valDir, klass, name);
    const copy = join(root, `copy-${name}`);
    copyFileSync(stored, copy);
    const broken = join(root, 'broken.jpg');
    writeFileSync(broken, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    const mixed = await runCli(['predict', join(root, 'run'), copy, broken, stored, '--json', '--feature-store', store]);
    assert.equal(mixed.code, 1, mixed.stderr);
    assert.deepEqual(featureLine(mixed.stderr), [1, 1], mixed.stderr);
    const rows = JSON.parse(mixed.stdout) as Row[];
    assert.deepEqual(rows.map((r) => r.file), [copy, broken, stored]);
    assert.match(rows[1].error ?? '', /corrupt|truncated|decode/i);
    assert.ok(!(rows[1].error ?? '').includes(broken), `the record names its file; its error need not: ${rows[1].error}`);
    assert.equal(mixed.stderr.split(broken).length - 1, 1, `the error line names the file once: ${mixed.stderr}`);
    assert.deepEqual(rows[1].top, []);
    assert.equal(rows[0].top[0].className, rows[2].top[0].className);
    assert.ok(Math.abs(rows[0].top[0].probability - rows[2].top[0].probability) < 1e-4, `${rows[0].top[0].probability} vs ${rows[2].top[0].probability}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
