// Nothing lost: a run directory that holds something is never written over silently. A new run needs an
// empty (or missing) directory; `resume` continues the run there; `overwrite` replaces a previous run,
// removing what it left (an old evaluation.json would contradict the new model). A folder that is not a
// tlkit run is never cleared, even with `overwrite`. The directory is locked for the run's life, and a
// run that fails before its first checkpoint removes what it created, so a failed start leaves nothing.
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { FileError, UsageError } from '../../core/errors.js';
import { refuseInsideInputs, refuseSystemPath } from './output_path.js';
import { LOCK_FILE, acquireRunLock, checkRunLockFree, type RunLock } from './run_lock.js';
import type { RunDirLayout } from './run_dir.js';

export interface RunDirRequest {
  outDir: string;
  resume?: boolean;
  overwrite?: boolean;
  /** Folders the run reads images from (data, validation): the run directory may not be inside them. */
  inputDirs?: (string | undefined)[];
}

/** The files and folders a run writes at the top of its directory (run_dir.ts's layout). */
function runEntries(layout: RunDirLayout): string[] {
  return [layout.model, layout.checkpoints, layout.historyCsv, layout.historyJson, layout.summary, layout.config, layout.evaluation];
}

/** Leftovers of interrupted atomic writes and model saves ('.config.json.123.tmp', '.model.tmp-123-...'). */
function isTemporary(name: string): boolean {
  return name.startsWith('.') && /\.tmp(-|$)/.test(name);
}

/** A directory tlkit wrote a run into: config.json, checkpoints/ or a saved model/. */
export function isRunDirectory(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) || existsSync(join(dir, 'checkpoints')) || existsSync(join(dir, 'model', 'tlkit.json'));
}

function contents(dir: string): string[] {
  return readdirSync(dir).filter((n) => n !== LOCK_FILE);
}

function listed(names: string[]): string {
  return names.slice(0, 5).join(', ') + (names.length > 5 ? `, ... (${names.length} entries)` : '');
}

/**
 * Checks, without touching the disk, that a run may use `outDir`: not under /proc, /sys or /dev, not
 * inside its own data folders, not locked by a live run (unless `lockHeld`: the caller holds it), and
 * empty unless resumed or overwriting a previous run.
 */
export function checkRunDirRequest(request: RunDirRequest, lockHeld = false): void {
  const { outDir } = request;
  if (request.resume && request.overwrite) {
    throw new UsageError('--resume and --overwrite exclude each other: --resume continues the run in --out, --overwrite replaces it', 'overwrite');
  }
  refuseSystemPath(outDir, '--out');
  refuseInsideInputs(outDir, request.inputDirs ?? []);
  if (!existsSync(outDir)) return;
  if (!statSync(outDir).isDirectory()) throw new FileError(outDir, 'exists and is not a directory; --out must be a folder for the run');
  if (!lockHeld) checkRunLockFree(outDir);
  if (request.resume) return;
  const names = contents(outDir);
  if (names.length === 0) return;
  if (!isRunDirectory(outDir)) {
    throw new UsageError(
      `--out ${outDir} is not empty (${listed(names)}) and is not a tlkit run directory: tlkit never deletes files it did not write, ` +
        'even with --overwrite; choose an empty or new folder',
      'out',
    );
  }
  if (!request.overwrite) {
    throw new UsageError(`--out ${outDir} already holds a run (${listed(names)}): continue it with --resume, replace it with --overwrite, or choose another --out`, 'out');
  }
}

/** A run directory taken for one run: locked until release. */
export interface RunDirClaim {
  /** The run finished: release keeps everything. */
  complete(): void;
  /**
   * Unlocks. A new run (not resumed) that did not complete and wrote no checkpoint is removed: the
   * folders this claim created, or the run's files in a folder that existed before.
   */
  release(): Promise<void>;
}

/**
 * Creates (if needed) and locks the run directory, checks it again under the lock (another process may
 * have filled it since checkRunDirRequest), and with `overwrite` removes what the previous run left.
 */
export async function claimRunDir(layout: RunDirLayout, request: RunDirRequest, onLog?: (message: string) => void): Promise<RunDirClaim> {
  let created: string | undefined;
  try {
    created = await fs.mkdir(layout.root, { recursive: true });
  } catch (error) {
    throw new FileError(layout.root, `cannot create the run directory (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  let lock: RunLock;
  try {
    lock = await acquireRunLock(layout.root, { onLog });
  } catch (error) {
    if (created) await fs.rm(created, { recursive: true, force: true });
    throw error;
  }
  let complete = false;
  try {
    checkRunDirRequest(request, true);
    if (request.overwrite) {
      const removed = readdirSync(layout.root).filter((n) => isTemporary(n) || runEntries(layout).includes(join(layout.root, n)));
      for (const name of removed) await fs.rm(join(layout.root, name), { recursive: true, force: true });
      if (removed.length) onLog?.(`overwrite: removed the previous run's ${removed.join(', ')} from ${layout.root}`);
      const kept = contents(layout.root);
      if (kept.length) onLog?.(`overwrite: kept ${listed(kept)} (not written by a run)`);
    }
    await fs.mkdir(layout.checkpoints, { recursive: true });
  } catch (error) {
    await lock.release();
    if (created) await fs.rm(created, { recursive: true, force: true });
    throw error instanceof FileError || error instanceof UsageError ? error : new FileError(layout.root, `cannot prepare the run directory (${(error as Error).message})`, { cause: error });
  }
  return {
    complete: () => {
      complete = true;
    },
    release: async () => {
      try {
        if (!complete && !request.resume && !existsSync(layout.lastCheckpoint)) {
          if (created) await fs.rm(created, { recursive: true, force: true });
          else for (const path of runEntries(layout)) await fs.rm(path, { recursive: true, force: true });
        }
      } finally {
        await lock.release();
      }
    },
  };
}
