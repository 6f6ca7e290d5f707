// Issue 16, item 3: the checks a run passes before it creates anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError, UsageError } from '../../../src/core/errors.js';
import { checkInputSize, checkResumeDataDir, checkResumeIdentity, maxInputSize } from '../../../src/train/run/run_checks.js';
import { smallCheckpoint } from '../../helpers/hostile_files.js';

const GiB = 2 ** 30;

test('the input size bound follows memory and batch size', () => {
  assert.equal(maxInputSize(32, 24 * GiB), 1024);
  assert.equal(maxInputSize(8, 24 * GiB), 2048);
  assert.equal(maxInputSize(32, 6 * GiB), 512);
  checkInputSize(1024, 32, 24 * GiB);
  checkInputSize(undefined, 32, 24 * GiB);
  assert.throws(() => checkInputSize(1025, 32, 24 * GiB), (e: unknown) => e instanceof UsageError && /at most 1024 with batch size 32 on this machine .*the machine has 24 GiB\)\. Received: inputSize=1025/.test(e.message));
  assert.throws(() => checkInputSize(100000, 4, 24 * GiB), /needs about \d+ GiB/);
});

test('a resumed run keeps its checkpoint\'s input size and classes', () => {
  const checkpoint = { ...smallCheckpoint(), tag: { phase: 1, inputSize: 32, classNames: ['bottom', 'top'] } };
  checkResumeIdentity(checkpoint, { inputSize: 32, classNames: ['bottom', 'top'] }, 'run');
  assert.throws(() => checkResumeIdentity(checkpoint, { inputSize: 48, classNames: ['bottom', 'top'] }, 'run'), (e: unknown) => e instanceof UsageError && /trained at input size 32 but the run now asks for 48/.test(e.message));
  assert.throws(() => checkResumeIdentity(checkpoint, { inputSize: 32, classNames: ['bottom', 'middle', 'top'] }, 'run'), (e: unknown) => e instanceof DataError && /classes \[bottom, top\] but the data now has \[bottom, middle, top\]/.test(e.message));
  // Checkpoints of older tlkit versions carry no identity: nothing to compare.
  checkResumeIdentity({ ...smallCheckpoint(), tag: { phase: 1 } }, { inputSize: 48, classNames: ['x'] }, 'run');
});

test('--resume accepts the run\'s own data folder only', () => {
  checkResumeDataDir(undefined, '/data/ds', 'run');
  checkResumeDataDir('/data/ds/', '/data/ds', 'run');
  assert.throws(() => checkResumeDataDir('/data/other', '/data/ds', 'run'), /on its own data folder \/data\/ds \(config\.json\); got DIR \/data\/other/);
});
