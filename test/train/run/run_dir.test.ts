// Issue 16, items 1, 2, 3 and 7, shaped as the failures it lists: `tlkit train` as a careless user runs
// it. T = the CLI, B = a tiny mobilenet (alpha 0.25, no weights, 32 px, 1 epoch, batch 4).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initEngine } from '../../../src/engines/tfjs/tf.js';
import { runDirLayout } from '../../../src/train/run/run_dir.js';
import { LOCK_FILE } from '../../../src/train/run/run_lock.js';
import { runCli } from '../../helpers/io.js';
import { writeBrokenImages, writeNotHdf5 } from '../../helpers/hostile_files.js';
import { writeSquaresFolder } from '../helpers.js';

const B = ['--backbone', 'mobilenet', '--alpha', '0.25', '--weights', 'none', '--input-size', '32', '--epochs', '1', '--batch-size', '4', '--class-mode', 'sparse', '--seed', '3'];
const bin = fileURLToPath(new URL('../../../bin/tlkit.js', import.meta.url));
let root: string;
let ds: string;

before(async () => {
  await initEngine();
  root = await fs.mkdtemp(join(tmpdir(), 'tlkit-rundir-'));
  ds = join(root, 'ds');
  await writeSquaresFolder(ds, 24, 32, 5); // 12 images per class
});

const read = (path: string) => readFileSync(path, 'utf8');

test('a finished run is never overwritten silently; --overwrite replaces it and removes what it left', async () => {
  const out = join(root, 'finished');
  const layout = runDirLayout(out);
  const first = await runCli(['train', ds, ...B, '--validation-split', '0.25', '--out', out]);
  assert.equal(first.code, 0, first.stderr);
  assert.ok(existsSync(layout.evaluation));
  const config = read(layout.config);
  const weights = await fs.readFile(join(layout.model, 'weights.bin'));

  const again = await runCli(['train', ds, ...B, '--out', out]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, new RegExp(`--out ${out} already holds a run \\(.*config\\.json.*\\): continue it with --resume, replace it with --overwrite, or choose another --out`));
  assert.equal(read(layout.config), config, 'config.json untouched');
  assert.deepEqual(await fs.readFile(join(layout.model, 'weights.bin')), weights, 'model untouched');

  // The user's own file stays; the old run's evaluation.json (the new run has no validation) goes.
  await fs.writeFile(join(out, 'notes.txt'), 'mine');
  const replaced = await runCli(['train', ds, ...B, '--validation-split', '0', '--out', out, '--overwrite']);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.match(replaced.stderr, /overwrite: removed the previous run's .*evaluation\.json/);
  assert.equal(existsSync(layout.evaluation), false, 'the old evaluation.json would contradict the new run');
  assert.equal(JSON.parse(read(layout.config)).validationSplit, 0);
  assert.equal(read(join(out, 'notes.txt')), 'mine');
  assert.equal(existsSync(join(out, LOCK_FILE)), false, 'the lock is released at the end');

  const both = await runCli(['train', ds, ...B, '--out', out, '--overwrite', '--resume']);
  assert.equal(both.code, 2);
});

test('a non-empty folder that is not a run is refused even with --overwrite, and left as it was', async () => {
  const out = join(root, 'documents');
  await fs.mkdir(out);
  await fs.writeFile(join(out, 'thesis.tex'), 'precious');
  for (const extra of [[], ['--overwrite']]) {
    const r = await runCli(['train', ds, ...B, '--out', out, ...extra]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not empty \(thesis\.tex\) and is not a tlkit run directory: tlkit never deletes files it did not write/);
  }
  assert.deepEqual(await fs.readdir(out), ['thesis.tex']);
});

test('two train processes with the same --out: the second is refused while the first runs; the run stays whole', { timeout: 240_000 }, async () => {
  const out = join(root, 'concurrent');
  const first = spawn(process.execPath, [bin, 'train', ds, ...B, '--epochs', '2', '--seed', '11', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  first.stderr!.on('data', (d) => (stderr += d));
  let exited = false;
  const exit = new Promise<number | null>((resolve) => first.on('exit', (code) => ((exited = true), resolve(code))));
  while (!existsSync(join(out, LOCK_FILE)) && !exited) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!exited, `the first run ended before it was seen running: ${stderr}`);
  const second = await runCli(['train', ds, ...B, '--seed', '22', '--out', out]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`is in use by another tlkit run \\(process ${first.pid} on ${hostname()}`));
  assert.equal(await exit, 0, stderr);
  assert.equal(JSON.parse(read(runDirLayout(out).config)).seed, 11, 'config.json of the run that trained');
  assert.match(read(runDirLayout(out).summary), /epochs: 2/);
  assert.equal(existsSync(join(out, LOCK_FILE)), false);
});

test('a run directory locked by a live process is refused, even for --resume', async () => {
  const out = join(root, 'locked');
  assert.equal((await runCli(['train', ds, ...B, '--out', out])).code, 0);
  // A live holder: this very process, with another lock token (another run in it).
  await fs.writeFile(join(out, LOCK_FILE), JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: 'now', token: 'other' }));
  const r = await runCli(['train', '--resume', '--out', out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`is in use by another tlkit run \\(process ${process.pid} on `));
  assert.doesNotMatch(r.stderr, /continue with/);
  // The holder gone (a dead pid): the stale lock is taken over and the resume goes ahead.
  await fs.writeFile(join(out, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 1, hostname: hostname(), startedAt: 'then', token: 'dead' }));
  const resumed = await runCli(['train', '--resume', '--out', out]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /took over a stale lock of process 4194305/);
});

test('--out inside the data folder is refused and nothing is created there', async () => {
  const r = await runCli(['train', ds, ...B, '--out', join(ds, 'run1')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--out .*ds\/run1 is inside the data folder .*ds/);
  assert.equal(existsSync(join(ds, 'run1')), false);
  const data = await runCli(['data', ds]);
  assert.equal(data.code, 0, 'later commands on the data still work');
});

test('failed starts leave no run directory: unknown backbone, missing or non-HDF5 --weights, one class, --input-size 100000', async () => {
  const oneClass = join(root, 'one-class');
  await fs.mkdir(join(oneClass, 'only'), { recursive: true });
  await fs.copyFile(join(ds, 'top', 'img001.png'), join(oneClass, 'only', 'a.png'));
  const fake = join(root, 'fake.h5');
  await writeNotHdf5(fake);
  const withFlag = (flag: string, value: string) => {
    const args = [...B];
    const i = args.indexOf(flag);
    if (i >= 0) args[i + 1] = value;
    return args;
  };
  const starts: [string[], number, RegExp][] = [
    [[ds, ...withFlag('--backbone', 'mobilenet_v9')], 2, /Unknown backbone 'mobilenet_v9'/],
    [[ds, ...withFlag('--weights', join(root, 'missing.h5'))], 2, /--weights expects .*\(no such file\)/],
    [[ds, ...withFlag('--weights', fake)], 1, new RegExp(`not an HDF5 file: ${fake}`)],
    [[oneClass, ...B], 2, /needs at least 2 classes/],
    [[ds, ...withFlag('--input-size', '100000')], 2, /inputSize.*at most \d+ with batch size 4 on this machine/],
  ];
  for (const [i, [args, code, message]] of starts.entries()) {
    const out = join(root, `failed-start-${i}`);
    const r = await runCli(['train', ...args, '--out', out]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(existsSync(out), false, `${args.join(' ')} left ${out} behind`);
  }
});

test('zero usable images is a failure with the reason, not "loss NaN" and exit 0', async () => {
  const allBad = join(root, 'allbad');
  await writeBrokenImages(allBad, ['shirt', 'shoe'], 4);
  const out = join(root, 'nan-run');
  const r = await runCli(['train', allBad, ...B, '--out', out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /epoch 1: no training image could be used \(every file was skipped; the log lists why\)/);
  assert.match(r.stderr, /skipped .*broken0\.png: not an image/);
  assert.doesNotMatch(r.stdout, /NaN/);
  assert.equal(existsSync(out), false, 'a run that failed before its first checkpoint leaves nothing');

  const split = await runCli(['train', ds, ...B, '--validation-split', '0.01', '--out', join(root, 'split')]);
  assert.equal(split.code, 1);
  assert.match(split.stderr, /validationSplit 0\.01 holds out no image .* at least 0\.083/);
  assert.equal(existsSync(join(root, 'split')), false);
});

test('evaluate on a folder where no image can be used fails clearly instead of "accuracy NaN on 0 images"', async () => {
  const out = join(root, 'for-eval');
  assert.equal((await runCli(['train', ds, ...B, '--out', out])).code, 0);
  const allBad = join(root, 'allbad-eval');
  await writeBrokenImages(allBad, ['bottom', 'top'], 3);
  const r = await runCli(['evaluate', out, allBad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nothing to evaluate: no image could be used in .*allbad-eval \(all 6 files were skipped; first: /);
  assert.doesNotMatch(r.stdout, /NaN/);
});

test('--resume refuses what it would ignore (DIR, --epochs) and a run whose input size was edited', async () => {
  const out = join(root, 'resumable');
  const layout = runDirLayout(out);
  assert.equal((await runCli(['train', ds, ...B, '--checkpoint-every', '1', '--out', out])).code, 0);
  const history = read(layout.historyJson);

  const epochs = await runCli(['train', '--resume', '--out', out, '--epochs', '5']);
  assert.equal(epochs.code, 2);
  assert.match(epochs.stderr, /--resume continues the run in .* exactly as its config\.json says; --epochs would be ignored: drop it \(only --engine may change\)/);
  const other = await runCli(['train', join(root, 'allbad'), '--resume', '--out', out]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /--resume continues .* on its own data folder .*ds \(config\.json\); got DIR .*allbad/);

  const config = JSON.parse(read(layout.config));
  await fs.writeFile(layout.config, JSON.stringify({ ...config, inputSize: 48, epochs: 2 }));
  const edited = await runCli(['train', '--resume', '--out', out]);
  assert.equal(edited.code, 2);
  assert.match(edited.stderr, /its checkpoint was trained at input size 32 but the run now asks for 48/);
  assert.equal(read(layout.historyJson), history, 'no epoch appended');
  assert.ok(existsSync(layout.model), 'a refused resume removes nothing');
});

test('Ctrl-C before the first checkpoint does not claim "the last checkpoint is kept"', async () => {
  const out = join(root, 'interrupted');
  const layout = runDirLayout(out);
  const running = runCli(['train', ds, ...B, '--epochs', '3', '--out', out]);
  // As soon as the run has claimed its directory, before any epoch ends, the user presses Ctrl-C.
  while (!existsSync(layout.config)) await new Promise((r) => setTimeout(r, 5));
  process.emit('SIGINT');
  const r = await running;
  assert.equal(r.code, 130);
  assert.match(r.stderr, /interrupted before the first checkpoint: nothing to resume \(no run directory is left\)/);
  assert.doesNotMatch(r.stderr, /checkpoint is kept/);
  assert.equal(existsSync(out), false);
});

test('a NaN stop before the first checkpoint says no checkpoint was written', async () => {
  const out = join(root, 'diverged');
  const r = await runCli(['train', ds, ...B, '--optimizer', 'sgd', '--lr', '1e30', '--out', out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /training stopped before applying this step/);
  assert.match(r.stderr, /no checkpoint had been written \(no run directory is left\)/);
  assert.doesNotMatch(r.stderr, /intact|is kept/);
});

test('--out under /proc or /sys is refused at once', async () => {
  for (const out of ['/proc/x', '/sys/kernel/tlkit-run']) {
    const r = await runCli(['train', ds, ...B, '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`--out ${out} is under /(proc|sys), a kernel file system`));
  }
});
