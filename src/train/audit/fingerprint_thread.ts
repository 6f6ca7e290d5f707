// Fingerprints computed on a worker thread. Half of a fingerprint's CPU time is JavaScript on the
// calling thread (sharp's pipeline set-up, the grayscale conversion, the DCT: 3.5 s of 7.8 s for 2,530
// small PNGs, measured with eventLoopUtilization); in a comparison that thread is also the runs', so the
// hashes go to a thread of their own, started for one list of files and ended when it is done. When the
// thread cannot start or dies, the files are fingerprinted on the calling thread instead.
import { Worker } from 'node:worker_threads';
import type { ProgressCallback, ProgressEvent } from '../../core/progress.js';
import { fingerprintFiles, type ImageFingerprint } from './image_fingerprints.js';

// The worker entry is TypeScript in a source checkout (run through tsx) and JavaScript once built.
const entryUrl = new URL(import.meta.url.endsWith('.ts') ? './fingerprint_worker.ts' : './fingerprint_worker.js', import.meta.url);

// Evaluated as CommonJS in the worker: registers tsx when the entry is .ts, then loads the entry.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsxApi) (await import(workerData.tsxApi)).register();
  await import(workerData.entry);
})().catch((e) => { setImmediate(() => { throw e; }); });
`;

function onThread(files: readonly string[], concurrency: number, onProgress?: ProgressCallback): Promise<(ImageFingerprint | null)[]> {
  const tsxApi = entryUrl.pathname.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : undefined;
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { entry: entryUrl.href, tsxApi } });
    let settled = false;
    worker.on('message', (msg: { progress?: ProgressEvent; prints?: (ImageFingerprint | null)[] }) => {
      if (msg.progress) onProgress?.(msg.progress);
      if (msg.prints) {
        settled = true;
        resolve(msg.prints);
        void worker.terminate();
      }
    });
    worker.on('error', (error) => {
      if (!settled) reject(error);
      settled = true;
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(`fingerprint thread stopped: exit code ${code}`));
      settled = true;
    });
    worker.postMessage({ files: [...files], concurrency });
  });
}

/** fingerprintFiles on a worker thread (on this one when the thread fails). */
export async function fingerprintFilesOffThread(files: readonly string[], options: { concurrency?: number; onProgress?: ProgressCallback } = {}): Promise<(ImageFingerprint | null)[]> {
  if (files.length === 0) return [];
  try {
    return await onThread(files, options.concurrency ?? 2, options.onProgress);
  } catch {
    return fingerprintFiles(files, options);
  }
}
