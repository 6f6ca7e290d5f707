// Entry of the fingerprint thread (fingerprint_thread.ts): fingerprints the files it is sent and sends
// the fingerprints back, with progress every 256 files.
import { parentPort } from 'node:worker_threads';
import { fingerprintFiles } from './image_fingerprints.js';

parentPort?.on('message', async (msg: { files: string[]; concurrency: number }) => {
  const prints = await fingerprintFiles(msg.files, { concurrency: msg.concurrency, onProgress: (e) => parentPort!.postMessage({ progress: e }) });
  parentPort!.postMessage({ prints }, prints.flatMap((p) => (p ? [p.signature.buffer as ArrayBuffer] : [])));
});
