// One process per run directory. A lock file is created exclusively (O_EXCL) and holds its owner's pid,
// hostname and process start time; it is removed when the run ends. A lock left by a process that is
// gone (same host, pid not alive or reused by another process) is stale and taken over. A process
// cannot be asked on another host (a queue worker on a machine that was lost, with the run folder on a
// shared filesystem), so the owner touches its lock every `heartbeatMs`: a lock from another host whose
// file has not changed for 2.5 heartbeats, watched from here (so no two hosts' clocks are compared), is
// stale too. A foreign lock without a heartbeat (older tlkit) is refused with how to remove it by hand.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FileError, TlkitError } from '../../core/errors.js';

/** Another process holds the run directory (or its lock cannot be checked). */
export class RunLockedError extends TlkitError {}

export const LOCK_FILE = '.tlkit.lock';

export interface LockOwner {
  pid: number;
  hostname: string;
  /** Process start time as the kernel counts it (Linux /proc/PID/stat field 22), to tell a reused pid. */
  processStart?: string;
  startedAt: string;
  /** Random; tells this lock apart from another one with the same pid. */
  token: string;
  /** The owner touches the lock file at least this often (ms); absent in locks of older versions. */
  heartbeatMs?: number;
}

/** How often an owner touches its lock. */
export const DEFAULT_HEARTBEAT_MS = 10_000;
/** A foreign lock unchanged for this many heartbeats is stale. */
const HEARTBEATS_MISSED = 2.5;

export interface RunLockOptions {
  onLog?: (message: string) => void;
  /** How often this lock is touched (ms). Default DEFAULT_HEARTBEAT_MS. */
  heartbeatMs?: number;
}

export interface RunLock {
  path: string;
  owner: LockOwner;
  /** Removes the lock file if it is still this lock's (idempotent). */
  release(): Promise<void>;
}

function processStartOf(pid: number): string | undefined {
  try {
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the lock's owner is certainly gone: same host, and its pid is dead or now another process. */
export function isStale(owner: LockOwner): boolean {
  if (owner.hostname !== hostname()) return false;
  if (!isAlive(owner.pid)) return true;
  const start = processStartOf(owner.pid);
  return owner.processStart !== undefined && start !== undefined && start !== owner.processStart;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && Number.isInteger(o.pid) && o.pid > 0 && typeof o.hostname === 'string' && typeof o.token === 'string') return o as LockOwner;
  } catch {
    // A lock file torn by a crash while it was written: handled as unreadable below.
  }
  return undefined;
}

/** Waits while the foreign holder's lock should be touched; true when it was not (the holder is gone). */
async function heartbeatStopped(path: string, holder: LockOwner, onLog?: (message: string) => void): Promise<boolean> {
  const beat = holder.heartbeatMs;
  if (beat === undefined || !Number.isFinite(beat) || beat <= 0) return false;
  const watchMs = HEARTBEATS_MISSED * beat;
  onLog?.(`run lock: held by ${describe(holder)}; watching its heartbeat for ${(watchMs / 1000).toFixed(1)} s to see whether that run is alive`);
  const first = await fs.stat(path).catch(() => null);
  if (!first) return false;
  const until = Date.now() + watchMs;
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(beat / 2, until - Date.now())));
    const now = await fs.stat(path).catch(() => null);
    if (!now || now.mtimeMs !== first.mtimeMs || now.ino !== first.ino) return false;
  }
  return true;
}

function describe(owner: LockOwner): string {
  return `process ${owner.pid} on ${owner.hostname}, since ${owner.startedAt}`;
}

function inUse(dir: string, holder: LockOwner): RunLockedError {
  const remote = holder.hostname !== hostname();
  return new RunLockedError(
    `${dir} is in use by another tlkit run (${describe(holder)})` +
      (!remote
        ? '; wait for it to end, or choose another --out'
        : holder.heartbeatMs
          ? `; its heartbeat is alive (the lock file changed while ${hostname()} watched it): wait for it to end, or choose another --out`
          : `; it cannot be checked from ${hostname()} (the lock has no heartbeat): if that run is over, delete ${join(dir, LOCK_FILE)}`),
  );
}

/**
 * Takes the run directory's lock (the directory must exist). Throws RunLockedError when another live
 * process holds it, or when the holder cannot be checked (another host, unreadable lock file).
 */
export async function acquireRunLock(dir: string, options: RunLockOptions = {}): Promise<RunLock> {
  const { onLog } = options;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const path = join(dir, LOCK_FILE);
  const owner: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    processStart: processStartOf(process.pid),
    startedAt: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
    heartbeatMs,
  };
  const text = JSON.stringify(owner) + '\n';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fs.writeFile(path, text, { flag: 'wx' });
      // The heartbeat: touching the file (never rewriting it) tells other hosts this run is alive.
      const timer = setInterval(() => {
        const now = new Date();
        fs.utimes(path, now, now).catch(() => undefined);
      }, heartbeatMs);
      timer.unref();
      return {
        path,
        owner,
        release: () => {
          clearInterval(timer);
          return releaseLock(path, owner.token);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new FileError(path, `cannot create the run's lock file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
      }
    }
    let held: string;
    try {
      held = await fs.readFile(path, 'utf8');
    } catch {
      continue; // released between our attempt and the read: try again
    }
    const holder = parseOwner(held);
    if (!holder) {
      throw new RunLockedError(`${dir} is locked by ${path}, which cannot be read as a tlkit lock; if no tlkit process uses this run, delete ${path} and try again`);
    }
    const foreign = holder.hostname !== hostname();
    if (foreign ? !(await heartbeatStopped(path, holder, onLog)) : !isStale(holder)) throw inUse(dir, holder);
    // Take the stale lock out of the way atomically, then make sure it is the one judged stale: two
    // processes may find the same stale lock, and the later one must not remove the earlier's new lock.
    const aside = `${path}.stale-${owner.token}`;
    try {
      await fs.rename(path, aside);
    } catch {
      continue;
    }
    const moved = parseOwner(await fs.readFile(aside, 'utf8').catch(() => ''));
    if (moved?.token !== holder.token) {
      await fs.link(aside, path).catch(() => undefined); // put a live lock back (fails if a newer one exists)
      await fs.rm(aside, { force: true });
      continue;
    }
    await fs.rm(aside, { force: true });
    onLog?.(`run lock: took over a stale lock of ${describe(holder)} (${foreign ? 'its heartbeat stopped' : 'that process is gone'})`);
  }
  throw new RunLockedError(`${dir}: could not take the run's lock ${path} (other processes kept taking it)`);
}

async function releaseLock(path: string, token: string): Promise<void> {
  const held = parseOwner(await fs.readFile(path, 'utf8').catch(() => ''));
  if (held?.token === token) await fs.rm(path, { force: true });
}

/**
 * Refuses early, before a run loads anything, when a live process holds `dir`'s lock (the lock itself
 * is taken later, by acquireRunLock, once the run is known to be valid).
 */
export function checkRunLockFree(dir: string): void {
  let text: string;
  try {
    text = readFileSync(join(dir, LOCK_FILE), 'utf8');
  } catch {
    return;
  }
  const holder = parseOwner(text);
  // A foreign lock with a heartbeat is judged by acquireRunLock, which can wait and watch it.
  if (holder && !isStale(holder) && !(holder.hostname !== hostname() && holder.heartbeatMs)) {
    throw inUse(dir, holder);
  }
}

/** The current holder of a run directory's lock, if the lock file exists and can be read. */
export async function readRunLock(dir: string): Promise<LockOwner | undefined> {
  return parseOwner(await fs.readFile(join(dir, LOCK_FILE), 'utf8').catch(() => ''));
}
