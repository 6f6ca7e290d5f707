// The thread budget a worker gives each run process reaches onnxruntime (TLKIT_THREADS) and libuv's pool
// (UV_THREADPOOL_SIZE, which sizes file reads and sharp's decodes); a pool size the user set wins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runProcessEnvironment } from '../../src/queue/run_in_child.js';

test('run processes get the thread budget as TLKIT_THREADS and UV_THREADPOOL_SIZE; a user-set UV_THREADPOOL_SIZE wins', () => {
  const base = { PATH: '/usr/bin', HOME: '/root' };
  assert.deepEqual(runProcessEnvironment(1, base), { ...base, TLKIT_THREADS: '1', UV_THREADPOOL_SIZE: '1' });
  assert.deepEqual(runProcessEnvironment(3, { ...base, UV_THREADPOOL_SIZE: '8' }), { ...base, TLKIT_THREADS: '3', UV_THREADPOOL_SIZE: '8' });
  // No budget: the parent's environment as it is.
  assert.deepEqual(runProcessEnvironment(undefined, base), base);
  // The parent's object is not modified.
  const parent = { ...base };
  runProcessEnvironment(2, parent);
  assert.deepEqual(parent, base);
});
