// Issue 16, items 2 and 7 for the other commands that write folders: augment and compare refuse an --out
// inside the data folder or under /proc and /sys before writing anything.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/io.js';

let ds: string;

before(async () => {
  ds = join(await fs.mkdtemp(join(tmpdir(), 'tlkit-outpaths-')), 'ds');
  for (const c of ['a', 'b']) await fs.mkdir(join(ds, c), { recursive: true });
});

test('augment --out inside DIR is refused and creates nothing there', async () => {
  const r = await runCli(['augment', ds, '--out', join(ds, 'aug'), '--count', '2']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--out .*ds\/aug is inside the data folder/);
  assert.equal(existsSync(join(ds, 'aug')), false);
});

test('augment and compare refuse --out under /proc and /sys', async () => {
  const a = await runCli(['augment', ds, '--out', '/proc/tlkit-aug']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--out \/proc\/tlkit-aug is under \/proc, a kernel file system/);
  const c = await runCli(['compare', ds, '--backbones', 'mobilenet', '--weights', 'none', '--out', '/sys/tlkit-cmp']);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /--out \/sys\/tlkit-cmp is under \/sys/);
});
