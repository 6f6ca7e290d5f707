// Job payloads name paths relative to two roots (the dataset's and the runs'), never absolute ones: each
// machine mounts the shared folder where it likes, and a worker touches nothing outside the roots it was
// started with, whatever a job says.
import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { UsageError } from '../core/errors.js';

export interface QueueRoots {
  /** Folder under which every dataset a job names lies. */
  dataRoot: string;
  /** Folder under which every run directory and report a job writes lies. */
  runsRoot: string;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The real path of `path`, or of its nearest existing ancestor joined with the rest (for folders not made yet). */
function realPathOf(path: string): string {
  let existing = path;
  const rest: string[] = [];
  while (!existsSync(existing) && dirname(existing) !== existing) {
    rest.unshift(existing.slice(dirname(existing).length + 1));
    existing = dirname(existing);
  }
  return resolve(realpathSync(existing), ...rest);
}

/** Submitter side: `path` as a path relative to `root`; a path outside it is a usage error naming the flag. */
export function relativeToRoot(root: string, path: string, what: string, rootFlag: string): string {
  const absolute = resolve(path);
  if (!inside(resolve(root), absolute)) {
    throw new UsageError(`${what} ${absolute} is not under ${rootFlag} ${resolve(root)}: workers only see paths under their roots; pass ${rootFlag} with the shared folder`, rootFlag.replace(/^--/, ''));
  }
  return relative(resolve(root), absolute).split(sep).join('/');
}

/**
 * Worker side: a job's relative path resolved under `root`. Absolute paths, '..' escapes and symbolic
 * links that lead outside the root are refused.
 */
export function resolveUnderRoot(root: string, rel: unknown, what: string): string {
  if (typeof rel !== 'string' || isAbsolute(rel) || /^[A-Za-z]:/.test(rel)) {
    throw new UsageError(`refused: the job's ${what} must be a path relative to this worker's root; got ${JSON.stringify(rel)}`, what);
  }
  const base = resolve(root);
  const path = resolve(base, rel);
  if (!inside(base, path) || !inside(realPathOf(base), realPathOf(path))) {
    throw new UsageError(`refused: the job's ${what} ${JSON.stringify(rel)} leads outside this worker's root ${base}`, what);
  }
  return path;
}
