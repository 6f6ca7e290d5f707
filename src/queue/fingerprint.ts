// A dataset's fingerprint: the submitter takes it, each worker takes it again on its side of the shared
// folder and refuses to train on different data (a stale copy, a half-synced folder, another mount).
// File list and sizes are cheap and catch most differences; hashing every byte of a large dataset is not,
// so only an evenly spread sample of files is hashed.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { DataError, FileError } from '../core/errors.js';

export interface DatasetFingerprint {
  files: number;
  bytes: number;
  /** sha256 of every file's relative path and size, one per line, in sorted order. */
  listHash: string;
  /** sha256 of the contents of a sample of files. */
  sample: { file: string; sha256: string }[];
}

const SAMPLE_SIZE = 8;

async function listFiles(root: string): Promise<{ file: string; size: number }[]> {
  const out: { file: string; size: number }[] = [];
  async function walk(dir: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      throw new FileError(dir, `cannot read the dataset folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() || entry.isSymbolicLink()) out.push({ file: relative(root, path).split(sep).join('/'), size: (await stat(path)).size });
    }
  }
  await walk(root);
  // Code-point order, the same on every machine whatever its locale.
  return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

export async function fingerprintDataset(dir: string): Promise<DatasetFingerprint> {
  const files = await listFiles(dir);
  const listHash = createHash('sha256').update(files.map((f) => `${f.file}\t${f.size}\n`).join('')).digest('hex');
  const step = Math.max(1, files.length / SAMPLE_SIZE);
  const picked = [...new Set(Array.from({ length: Math.min(SAMPLE_SIZE, files.length) }, (_, i) => Math.floor(i * step)))].map((i) => files[i]);
  const sample = [];
  for (const f of picked) sample.push({ file: f.file, sha256: await sha256File(join(dir, f.file)) });
  return { files: files.length, bytes: files.reduce((a, f) => a + f.size, 0), listHash, sample };
}

/** Throws a DataError saying how the worker's copy of the dataset differs from the submitter's. */
export async function checkFingerprint(dir: string, expected: DatasetFingerprint, where: string): Promise<void> {
  const actual = await fingerprintDataset(dir);
  const differs = (what: string) => new DataError(`${dir}: this worker (${where}) sees different data than the submitter: ${what}. Refusing to train on it; make the shared folder the same on every machine`);
  if (actual.files !== expected.files) throw differs(`${actual.files} files here, ${expected.files} at the submitter`);
  if (actual.bytes !== expected.bytes) throw differs(`${actual.bytes} bytes here, ${expected.bytes} at the submitter`);
  if (actual.listHash !== expected.listHash) throw differs('the file names or sizes differ');
  for (const [i, s] of expected.sample.entries()) {
    if (actual.sample[i]?.file !== s.file || actual.sample[i].sha256 !== s.sha256) throw differs(`the content of ${s.file} differs`);
  }
}
