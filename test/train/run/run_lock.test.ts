// Issue 16, item 1: one process per run directory; a stale lock (its process gone) is taken over.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE, RunLockedError, acquireRunLock, checkRunLockFree, readRunLock } from '../../../src/train/run/run_lock.js';

let root: string;

before(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'tlkit-lock-'));
});

async function freshDir(name: string): Promise<string> {
  const dir = join(root, name);
  await fs.mkdir(dir);
  return dir;
}

/** The pid of a process that has exited (a child that ran `true`). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid!;
}

test('a held lock refuses a second taker, names the holder, and is gone after release', async () => {
  const dir = await freshDir('held');
  const lock = await acquireRunLock(dir);
  assert.deepEqual({ pid: lock.owner.pid, hostname: lock.owner.hostname }, { pid: process.pid, hostname: hostname() });
  assert.equal((await readRunLock(dir))?.token, lock.owner.token);
  await assert.rejects(acquireRunLock(dir), (e: unknown) => e instanceof RunLockedError && e.message.includes(`in use by another tlkit run (process ${process.pid} on ${hostname()}`));
  assert.throws(() => checkRunLockFree(dir), RunLockedError, 'the early check (before a run loads anything) sees it too');
  await lock.release();
  checkRunLockFree(dir);
  assert.equal(await readRunLock(dir), undefined);
  const again = await acquireRunLock(dir);
  await again.release();
});

test('a stale lock of a dead process on this host is taken over, and says so', async () => {
  const dir = await freshDir('stale');
  const pid = deadPid();
  await fs.writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid, hostname: hostname(), startedAt: '2026-01-01T00:00:00Z', token: 'old' }));
  const logs: string[] = [];
  const lock = await acquireRunLock(dir, { onLog: (m) => logs.push(m) });
  assert.equal((await readRunLock(dir))?.token, lock.owner.token);
  assert.match(logs.join('\n'), new RegExp(`took over a stale lock of process ${pid} on ${hostname()}`));
  await lock.release();
});

test('a lock whose pid now belongs to another process (reused pid) is stale', async () => {
  const dir = await freshDir('reused');
  // Our own pid with another process start time: the pid is alive but not the lock's process.
  await fs.writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, hostname: hostname(), processStart: '1', startedAt: 'x', token: 'old' }));
  const lock = await acquireRunLock(dir);
  await lock.release();
});

test('a lock from another host without a heartbeat (older tlkit) cannot be checked: refused with how to remove it; a torn lock file too', async () => {
  const dir = await freshDir('remote');
  await fs.writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: 12345, hostname: 'elsewhere.example', startedAt: 'x', token: 'remote' }));
  await assert.rejects(acquireRunLock(dir), (e: unknown) => e instanceof RunLockedError && /process 12345 on elsewhere\.example.*cannot be checked from .*delete .*\.tlkit\.lock/.test(e.message));
  await fs.writeFile(join(dir, LOCK_FILE), '{"pid": 1');
  await assert.rejects(acquireRunLock(dir), (e: unknown) => e instanceof RunLockedError && /cannot be read as a tlkit lock/.test(e.message));
});

test('release does not remove a lock that another taker holds now', async () => {
  const dir = await freshDir('handover');
  const first = await acquireRunLock(dir);
  // Simulate the first lock having been taken over (e.g. judged stale by another host's admin).
  await fs.writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: 'x', token: 'someone-else' }));
  await first.release();
  assert.equal((await readRunLock(dir))?.token, 'someone-else');
});

test('the owner touches its lock: the heartbeat other hosts watch', async () => {
  const dir = await freshDir('heartbeat');
  const lock = await acquireRunLock(dir, { heartbeatMs: 50 });
  assert.equal(lock.owner.heartbeatMs, 50);
  const before = (await fs.stat(lock.path)).mtimeMs;
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.ok((await fs.stat(lock.path)).mtimeMs > before, 'the lock file was touched');
  await lock.release();
  await assert.rejects(fs.stat(lock.path), /ENOENT/);
});

test('a lock from another host whose heartbeat stopped is taken over after 2.5 heartbeats; a live one is refused', async () => {
  const dir = await freshDir('remote-heartbeat');
  const remote = { pid: 12345, hostname: 'lost-machine.example', startedAt: 'x', token: 'remote', heartbeatMs: 200 };
  await fs.writeFile(join(dir, LOCK_FILE), JSON.stringify(remote));
  const logs: string[] = [];
  const started = performance.now();
  const lock = await acquireRunLock(dir, { onLog: (m) => logs.push(m) });
  assert.ok(performance.now() - started >= 450, 'it watched the lock for 2.5 heartbeats first');
  assert.match(logs.join('\n'), /watching its heartbeat.*\n.*took over a stale lock of process 12345 on lost-machine\.example, since x \(its heartbeat stopped\)/);
  assert.equal((await readRunLock(dir))?.token, lock.owner.token);
  await lock.release();

  // The remote run is alive: its lock file keeps changing while this host watches.
  await fs.writeFile(join(dir, LOCK_FILE), JSON.stringify(remote));
  const beat = setInterval(() => {
    const now = new Date();
    void fs.utimes(join(dir, LOCK_FILE), now, now).catch(() => undefined);
  }, 100);
  try {
    // The early check defers to the watch, which refuses.
    checkRunLockFree(dir);
    await assert.rejects(acquireRunLock(dir), (e: unknown) => e instanceof RunLockedError && /lost-machine\.example.*heartbeat is alive/.test(e.message));
  } finally {
    clearInterval(beat);
  }
  assert.equal((await readRunLock(dir))?.token, 'remote');
});
