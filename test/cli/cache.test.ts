// `tlkit cache`: lists feature stores and compiled graphs with sizes, prunes to a size (least recently
// used first) and clears; a bad action or missing --max-size is a usage error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openFeatureStore } from '../../src/engines/feature_store/index.js';
import { runCli } from '../helpers/io.js';

async function cacheRoot(): Promise<{ root: string; oldDir: string; newDir: string }> {
  const root = await fs.mkdtemp(path.join(tmpdir(), 'tlkit-cache-cli-'));
  const row = (n: number) => Float32Array.from({ length: 1000 }, (_, i) => i * n);
  const old = await openFeatureStore(root, { fingerprint: '12'.repeat(16), shape: [1000], precision: 'float32', about: { backbone: 'mobilenet_v2', boundary: 'out_relu' } });
  await old.put(['a', 'b', 'c'], [row(1), row(2), row(3)]);
  await old.close();
  const past = new Date(Date.now() - 86_400_000);
  for (const name of await fs.readdir(old.dir)) await fs.utimes(path.join(old.dir, name), past, past);
  const recent = await openFeatureStore(root, { fingerprint: '34'.repeat(16), shape: [1000], precision: 'float16', about: { backbone: 'resnet50', boundary: 'avg_pool' } });
  await recent.put(['a'], [row(1)]);
  await recent.close();
  await fs.mkdir(path.join(root, 'onnx'));
  await fs.writeFile(path.join(root, 'onnx', `frozen-prefix-${'5'.repeat(32)}.tlkc`), Buffer.alloc(5000));
  return { root, oldDir: old.dir, newDir: recent.dir };
}

test('tlkit cache lists stores and graphs with sizes; --json gives the same', async () => {
  const { root, oldDir } = await cacheRoot();
  const { code, stdout } = await runCli(['cache', '--dir', root]);
  assert.equal(code, 0);
  assert.match(stdout, /feature-store\s+12\.\d kB\s+3\s+.*mobilenet_v2 out_relu 1000 float32/);
  assert.match(stdout, /feature-store\s+2\.\d kB\s+1\s+.*resnet50 avg_pool 1000 float16/);
  assert.match(stdout, /compiled-graph\s+5\.0 kB\s+1\s+.*frozen-prefix/);
  assert.match(stdout, /total 1\d\.\d kB in /);
  const json = JSON.parse((await runCli(['cache', 'list', '--dir', root, '--json', '--only', 'features'])).stdout) as { items: { path: string; entries: number }[] };
  assert.deepEqual(json.items.map((i) => [i.path, i.entries]), [[oldDir, 3], [json.items[1].path, 1]]);
});

test('tlkit cache prune removes the least recently used until under the size; clear removes the rest', async () => {
  const { root, oldDir, newDir } = await cacheRoot();
  const pruned = await runCli(['cache', 'prune', '--max-size', '0.00001', '--dir', root, '--only', 'features']);
  assert.equal(pruned.code, 0);
  assert.match(pruned.stdout, /removed 1 item \(12\.\d kB\)/);
  await assert.rejects(fs.stat(oldDir));
  await fs.stat(newDir);
  await fs.stat(path.join(root, 'onnx'));
  const cleared = await runCli(['cache', 'clear', '--dir', root]);
  assert.match(cleared.stdout, /removed 2 items/);
  assert.match((await runCli(['cache', '--dir', root])).stdout, /empty/);
});

test('tlkit cache: a bad action or prune without --max-size is a usage error', async () => {
  assert.equal((await runCli(['cache', 'shrink'])).code, 2);
  assert.equal((await runCli(['cache', 'prune', '--dir', tmpdir()])).code, 2);
  assert.equal((await runCli(['cache', '--only', 'weights'])).code, 2);
});
