// The linear probe's results kept on disk beside the feature stores. A probe is a pure function of its
// rows, labels and settings, so the runs of a sweep (same frozen features, other learning rates), the
// same comparison run again, or a queue worker on the shared folder read the result instead of fitting
// again. An entry is keyed by a digest of exactly those inputs: other features, labels or settings give
// another entry, and deleting the folder is always safe (the probe is fitted again).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { atomicWrite } from '../../core/atomic_write.js';
import { runLinearProbe, type DenseRows, type LinearProbeOptions, type LinearProbeResult } from './linear_probe.js';

/** Bumped when the probe's arithmetic changes, so older entries are never read (2: out-of-fold rows outside the cross-validation sample scored by the folds' mean model). */
const FORMAT = 2;

/** The folder of the probe results under a cache root. */
export function probeCacheDir(root: string): string {
  return path.join(root, 'probes');
}

function bytesOf(view: ArrayLike<number> & { buffer?: ArrayBufferLike; byteOffset?: number; byteLength?: number }): Uint8Array {
  if (ArrayBuffer.isView(view)) return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  return new Uint8Array(Float64Array.from(view).buffer);
}

/** The digest of everything the probe's result depends on. */
export function probeKey(train: DenseRows, trainLabels: ArrayLike<number>, heldOut: DenseRows, heldOutLabels: ArrayLike<number>, classes: number, options: LinearProbeOptions): string {
  const { onProgress: _p, threads: _t, ...settings } = options;
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ format: FORMAT, classes, settings, train: [train.n, train.d], heldOut: [heldOut.n, heldOut.d] }));
  for (const part of [train.x, Int32Array.from(trainLabels), heldOut.x, Int32Array.from(heldOutLabels)]) hash.update(bytesOf(part));
  return hash.digest('hex');
}

interface StoredProbe extends Omit<LinearProbeResult, 'outOfFoldProbabilities'> {
  outOfFoldProbabilities?: string;
}

async function readEntry(file: string): Promise<LinearProbeResult | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const stored = JSON.parse(text) as StoredProbe;
    if (typeof stored.accuracy !== 'number' || typeof stored.c !== 'number') return undefined;
    const { outOfFoldProbabilities, ...rest } = stored;
    const now = new Date();
    await fs.utimes(file, now, now).catch(() => undefined);
    if (outOfFoldProbabilities === undefined) return rest;
    const bytes = Buffer.from(outOfFoldProbabilities, 'base64');
    return { ...rest, outOfFoldProbabilities: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
  } catch {
    return undefined; // a damaged entry is fitted again and overwritten
  }
}

async function writeEntry(file: string, result: LinearProbeResult): Promise<void> {
  const { outOfFoldProbabilities, fromCache: _f, ...rest } = result;
  const stored: StoredProbe = { ...rest, ...(outOfFoldProbabilities ? { outOfFoldProbabilities: Buffer.from(outOfFoldProbabilities.buffer, outOfFoldProbabilities.byteOffset, outOfFoldProbabilities.byteLength).toString('base64') } : {}) };
  await fs.mkdir(path.dirname(file), { recursive: true });
  await atomicWrite(file, [Buffer.from(JSON.stringify(stored))]);
}

/**
 * runLinearProbe, reading and writing its result under `root` (a cache root; undefined: no cache). A
 * result read back has `fromCache: true`; its `seconds` are the original fit's. Failing to write the
 * entry (full disk, read-only folder) costs the next run a fit, never this run its result.
 */
export async function cachedLinearProbe(
  root: string | undefined,
  train: DenseRows,
  trainLabels: ArrayLike<number>,
  heldOut: DenseRows,
  heldOutLabels: ArrayLike<number>,
  classes: number,
  options: LinearProbeOptions = {},
): Promise<LinearProbeResult> {
  if (root === undefined) return runLinearProbe(train, trainLabels, heldOut, heldOutLabels, classes, options);
  const file = path.join(probeCacheDir(root), `${probeKey(train, trainLabels, heldOut, heldOutLabels, classes, options)}.json`);
  const stored = await readEntry(file);
  if (stored) {
    options.onProgress?.({ task: 'linear probe', current: 100, total: 100, unit: '%', done: true });
    return { ...stored, fromCache: true };
  }
  const result = await runLinearProbe(train, trainLabels, heldOut, heldOutLabels, classes, options);
  await writeEntry(file, result).catch(() => undefined);
  return result;
}
