// Reads a file only if it is a regular file (after following links). A FIFO named like an image, or a
// device, or a socket would block a plain readFile for ever (a FIFO waits for a writer); opening it
// non-blocking and asking the open descriptor what it is cannot block, and cannot be raced by a swap
// between a stat and the open.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** What a path is when it is not a regular file, in words. */
export class NotRegularFileError extends Error {
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(`${path}: not a regular file (${kind}); only regular files are read`);
    this.name = 'NotRegularFileError';
  }
}

/** The whole content of `path`; NotRegularFileError for a FIFO, socket, device or directory; fs errors as they come. */
export async function readRegularFile(path: string): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      const kind = stat.isFIFO() ? 'a FIFO (named pipe)' : stat.isSocket() ? 'a socket' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : stat.isDirectory() ? 'a directory' : 'not a file';
      throw new NotRegularFileError(path, kind);
    }
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
