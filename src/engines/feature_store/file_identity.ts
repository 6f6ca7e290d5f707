// What names one image in the feature store: its resolved path, size and modification time (cheap: one
// stat), or its content's sha256 (reads the file; survives moves and copies, e.g. a dataset unpacked
// again or the same photos under another folder on a queue worker).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { FileError } from '../../core/errors.js';

export type FileIdentityMode = 'stat' | 'content';

/** The store key of `file`: 32 hex characters. */
export async function fileIdentityKey(file: string, mode: FileIdentityMode = 'stat'): Promise<string> {
  const resolved = path.resolve(file);
  try {
    if (mode === 'content') return createHash('sha256').update('content\n').update(await fs.readFile(resolved)).digest('hex').slice(0, 32);
    const info = await fs.stat(resolved);
    return createHash('sha256').update(`stat\n${resolved}\n${info.size}\n${info.mtimeMs}`).digest('hex').slice(0, 32);
  } catch (error) {
    throw new FileError(file, `cannot read: ${(error as Error).message}`, { cause: error });
  }
}

/** Keys of many files, a few stats at a time (a folder of 100,000 photos takes a second or two). */
export async function fileIdentityKeys(files: readonly string[], mode: FileIdentityMode = 'stat', concurrency = 64): Promise<(string | undefined)[]> {
  const keys: (string | undefined)[] = new Array(files.length);
  let next = 0;
  const work = async () => {
    for (let i = next++; i < files.length; i = next++) keys[i] = await fileIdentityKey(files[i], mode).catch(() => undefined);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, work));
  return keys;
}
