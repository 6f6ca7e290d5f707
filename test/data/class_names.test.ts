// Issue 16, item 4: `tlkit data DIR --classes a,..` read the parent folder as a class. A class is a
// plain folder name inside DIR.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import { isPlainFolderName, scanDirectory } from '../../src/data/scan_directory.js';
import { runCli } from '../helpers/io.js';

let ds: string;

before(async () => {
  ds = join(await fs.mkdtemp(join(tmpdir(), 'tlkit-classes-')), 'ds');
  for (const c of ['a', 'b']) {
    await fs.mkdir(join(ds, c), { recursive: true });
    await fs.writeFile(join(ds, c, 'x.png'), 'x');
  }
});

test('class names that climb out of or into folders are refused', () => {
  for (const bad of ['..', '.', '', 'a/../..', '../b', 'b/sub', 'a\\b', 'nul\0']) {
    assert.equal(isPlainFolderName(bad), false, JSON.stringify(bad));
    assert.throws(() => scanDirectory(ds, { classes: ['a', bad] }), (e: unknown) => e instanceof UsageError && /plain folder names/.test(e.message), JSON.stringify(bad));
  }
  for (const good of ['a', 'b', '.hidden', 'with space', 'é']) assert.equal(isPlainFolderName(good), true, good);
  assert.deepEqual(scanDirectory(ds, { classes: ['b', 'a'] }).classNames, ['b', 'a']);
});

test('tlkit data DIR --classes a,.. exits 2 naming the bad class', async () => {
  const r = await runCli(['data', ds, '--classes', 'a,..']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /`classes`: expected plain folder names inside .*ds \(not '', '\.', '\.\.', nor with .*\); got "\.\."/);
});
