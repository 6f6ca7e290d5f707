// Kills `tlkit train` with SIGKILL in the middle of an epoch, resumes it, and checks the run directory.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initEngine } from '../../../src/engines/tfjs/tf.js';
import { readCheckpoint } from '../../../src/train/loop/checkpoint.js';
import { loadModel } from '../../../src/weights/saved_model.js';
import { runDirLayout } from '../../../src/train/run/run_dir.js';
import { LOCK_FILE } from '../../../src/train/run/run_lock.js';
import { existsSync } from 'node:fs';
import { writeSquaresFolder } from '../helpers.js';

const bin = fileURLToPath(new URL('../../../bin/tlkit.js', import.meta.url));
let root: string;

before(async () => {
  await initEngine();
  root = await fs.mkdtemp(join(tmpdir(), 'tlkit-crash-'));
  await writeSquaresFolder(join(root, 'data'), 80, 32, 41);
});

function startTrain(args: string[]): { child: ChildProcess; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
  const child = spawn(process.execPath, [bin, 'train', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TLKIT_DEBUG: '1' } });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  return { child, exit };
}

/** Header of the last checkpoint, or undefined while there is none (reads only what is needed). */
async function peek(path: string): Promise<{ epoch: number; batch: number } | undefined> {
  try {
    const c = await readCheckpoint(path);
    return { epoch: c.epoch, batch: c.batch };
  } catch {
    return undefined;
  }
}

test('SIGKILL in the middle of an epoch, then --resume: the run finishes, every file loads, no epoch counted twice', { timeout: 240_000 }, async () => {
  const out = join(root, 'run');
  const layout = runDirLayout(out);
  const args = [join(root, 'data'), '--backbone', 'mobilenet', '--alpha', '0.25', '--weights', 'none', '--input-size', '32', '--class-mode', 'sparse',
    '--epochs', '3', '--batch-size', '2', '--validation-split', '0.25', '--checkpoint-every', '1', '--seed', '5', '--lr', '0.01', '--out', out];
  const first = startTrain(args);
  // Kill once a checkpoint shows the second epoch under way (30 batches per epoch).
  let seen: { epoch: number; batch: number } | undefined;
  const deadline = Date.now() + 180_000;
  let exited = false;
  void first.exit.then(() => (exited = true));
  while (!exited && Date.now() < deadline) {
    seen = await peek(layout.lastCheckpoint);
    if (seen && seen.epoch === 1 && seen.batch >= 3) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(!exited, 'training ended before it could be killed');
  first.child.kill('SIGKILL');
  const killed = await first.exit;
  assert.equal(killed.signal, 'SIGKILL', `exit code ${killed.code}: ${killed.stderr}`);

  const atKill = await readCheckpoint(layout.lastCheckpoint);
  assert.equal(atKill.epoch, 1, 'killed during the second epoch');
  assert.ok(atKill.batch > 0 && atKill.batch < 30, `mid-epoch checkpoint (batch ${atKill.batch})`);
  assert.equal(atKill.history.length, 1);

  const second = startTrain(['--resume', '--out', out]);
  const resumed = await second.exit;
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming .* at epoch 2, batch ${atKill.batch}`));
  // The killed process could not remove its lock: the resume recognises it as stale (issue 16).
  assert.match(resumed.stderr, new RegExp(`took over a stale lock of process ${first.child.pid} on `));
  assert.equal(existsSync(join(out, LOCK_FILE)), false, 'the resumed run released its lock');

  // Every file of the run directory loads.
  const history = JSON.parse(await fs.readFile(layout.historyJson, 'utf8')).epochs as { epoch: number; samples: number }[];
  assert.deepEqual(history.map((h) => h.epoch), [1, 2, 3], 'each epoch once');
  // The interrupted epoch counts each of its 60 training images once, not the replayed ones twice.
  for (const h of history) assert.equal(h.samples, 60);
  const csv = (await fs.readFile(layout.historyCsv, 'utf8')).trim().split('\n');
  assert.equal(csv.length, 4);
  const last = await readCheckpoint(layout.lastCheckpoint);
  assert.equal(last.epoch, 3);
  assert.equal(last.batch, 0);
  await readCheckpoint(layout.bestCheckpoint);
  const { model, metadata } = await loadModel(out);
  assert.deepEqual(metadata.classNames, ['bottom', 'top']);
  model.dispose();
  JSON.parse(await fs.readFile(layout.config, 'utf8'));
  assert.equal(JSON.parse(await fs.readFile(layout.evaluation, 'utf8')).samples, 20);
  assert.match(await fs.readFile(layout.summary, 'utf8'), /epochs: 3/);
  for (const dir of [layout.root, layout.checkpoints, layout.model]) {
    const names = await fs.readdir(dir);
    assert.deepEqual(names.filter((n) => n.endsWith('.tmp')), [], `no temporary files left in ${dir}`);
  }
});
