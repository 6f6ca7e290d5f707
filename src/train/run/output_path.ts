// Where tlkit may write. Paths are compared after resolving symbolic links of the part that exists, so
// a link cannot smuggle an output into a refused place.
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { UsageError } from '../../core/errors.js';

/**
 * Kernel file systems: writing there either fails in odd ways or spins (Node's recursive mkdir under
 * /proc loops at 100% CPU), and nothing tlkit writes belongs there.
 */
const SYSTEM_ROOTS = ['/proc', '/sys', '/dev'];

/** The absolute path with every symbolic link in its existing part resolved; the missing rest appended. */
export function realPathOf(path: string): string {
  let existing = resolve(path);
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    rest.unshift(basename(existing));
    existing = parent;
  }
  let real = existing;
  try {
    real = realpathSync(existing);
  } catch {
    // Unreadable ancestor: compare the plain resolved path.
  }
  return rest.length ? join(real, ...rest) : real;
}

/** Whether `inner` is `outer` or lies under it (both real paths). */
export function isInside(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}

/** Refuses an output path under /proc, /sys or /dev. `flag` names the option in the error. */
export function refuseSystemPath(path: string, flag: string): void {
  const real = realPathOf(path);
  const root = SYSTEM_ROOTS.find((r) => isInside(real, r) || isInside(resolve(path), r));
  if (root) throw new UsageError(`${flag} ${path} is under ${root}, a kernel file system: tlkit writes nothing there; choose a folder on a disk`, flag.replace(/^-+/, ''));
}

/** Refuses an output folder inside one of the folders a command reads images from. */
export function refuseInsideInputs(outDir: string, inputDirs: (string | undefined)[]): void {
  const out = realPathOf(outDir);
  for (const input of inputDirs) {
    if (input !== undefined && isInside(out, realPathOf(input))) {
      throw new UsageError(`--out ${outDir} is inside the data folder ${input}: it would become one more class folder there; choose a folder outside it`, 'out');
    }
  }
}
