// Write-then-rename: a reader (or a resumed run) sees the old file or the new one, never half of one.
// A failure (disk full, unwritable directory) removes the temporary file and leaves the old one as it was.
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileError } from './errors.js';

/** The file operations atomicWrite uses; tests substitute failing ones (ENOSPC) to check the error path. */
export interface AtomicWriteFs {
  open: typeof fs.open;
  rename: typeof fs.rename;
  rm: typeof fs.rm;
}

const nodeFs: AtomicWriteFs = { open: fs.open, rename: fs.rename, rm: fs.rm };

function explain(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOENT':
      return 'the directory does not exist';
    case 'ENOTDIR':
      return 'a parent of this path is a file, not a directory';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

export async function atomicWrite(path: string, chunks: Uint8Array[], io: AtomicWriteFs = nodeFs): Promise<void> {
  await replaceAtomically(path, io, async (temp) => {
    const handle = await io.open(temp, 'w');
    try {
      for (const chunk of chunks) {
        let offset = 0;
        while (offset < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
          offset += bytesWritten;
        }
      }
      // Data must be on disk before the rename makes it the current version.
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/**
 * Makes `path` a second name of the finished file `source` (a hard link), atomically like atomicWrite: a
 * reader sees the old `path` or the new one. Later atomic writes of either name replace that name only.
 * Where the file system has no hard links, the bytes are copied instead.
 */
export async function atomicLink(source: string, path: string, io: AtomicWriteFs = nodeFs): Promise<void> {
  await replaceAtomically(path, io, async (temp) => {
    await io.rm(temp, { force: true });
    try {
      await fs.link(source, temp);
    } catch {
      await fs.copyFile(source, temp);
      const handle = await io.open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  });
}

/**
 * Write-then-rename: `fill` makes the new version in a temporary file beside `path`, which the rename
 * then makes current. On any failure the temporary file goes and the old `path` stays as it was.
 */
async function replaceAtomically(path: string, io: AtomicWriteFs, fill: (temp: string) => Promise<void>): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await fill(temp);
    await io.rename(temp, path);
  } catch (error) {
    await io.rm(temp, { force: true }).catch(() => undefined);
    throw new FileError(path, `cannot write (${explain(error)}); the previous version of this file, if any, is unchanged`, { cause: error });
  }
  await syncDirectory(dirname(path));
}

/** Makes the rename itself durable; some file systems refuse fsync on a directory, which is harmless. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}

/** Removes temporary files that a killed writer left behind in `dir` (names made by atomicWrite). */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => /^\..+\.\d+\.tmp$/.test(n));
  await Promise.all(stale.map((n) => fs.rm(join(dir, n), { force: true })));
  return stale;
}

export async function atomicWriteText(path: string, text: string, io?: AtomicWriteFs): Promise<void> {
  await atomicWrite(path, [new TextEncoder().encode(text)], io);
}
