// BMP and PPM/PGM are decoded in JavaScript (sharp reads neither). On a server that synchronous work
// would stall the event loop (16 large BMPs in one request held /healthz for 3 s), so a server decodes
// them here instead: one thread, started on first use, unref'd while idle, taking one image at a time,
// which also bounds the memory of full-size legacy decodes in flight to one image.
import { Worker } from 'node:worker_threads';
import { LegacyFormatError, type RawImage } from './legacy_formats.js';

// The worker entry is TypeScript in a source checkout (run through tsx) and JavaScript once built.
const entryUrl = new URL(import.meta.url.endsWith('.ts') ? './legacy_decode_worker.ts' : './legacy_decode_worker.js', import.meta.url);

// Evaluated as CommonJS in the worker: registers tsx when the entry is .ts, then loads the entry.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsxApi) (await import(workerData.tsxApi)).register();
  await import(workerData.entry);
})().catch((e) => { setImmediate(() => { throw e; }); });
`;

interface Pending {
  bytes: Uint8Array;
  resolve: (raw: RawImage) => void;
  reject: (error: Error) => void;
}

let worker: Worker | null = null;
/** Waiting here, not in the thread's message queue: an image is copied to the thread only when its turn comes. */
const waiting: Pending[] = [];
let current: Pending | null = null;

function start(): Worker {
  const tsxApi = entryUrl.pathname.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : undefined;
  const w = new Worker(BOOTSTRAP, { eval: true, workerData: { entry: entryUrl.href, tsxApi } });
  w.on('message', (msg: { raw?: RawImage; error?: string }) => {
    const p = current;
    current = null;
    if (p) {
      if (msg.raw) p.resolve(msg.raw);
      else p.reject(new LegacyFormatError(msg.error ?? 'decode failed'));
    }
    next();
  });
  // A thread that dies (out of memory) fails the image it held; the next image starts a new thread.
  const fail = (why: string) => {
    if (worker !== w) return;
    worker = null;
    const p = current;
    current = null;
    p?.reject(new Error(`legacy decode thread stopped: ${why}`));
    next();
  };
  w.on('error', (error) => fail(error.message));
  w.on('exit', (code) => fail(`exit code ${code}`));
  w.unref();
  return w;
}

function next(): void {
  if (current) return;
  const p = waiting.shift();
  if (!p) {
    worker?.unref();
    return;
  }
  current = p;
  worker ??= start();
  worker.ref();
  // A fresh copy of exactly these bytes, handed over (a Buffer may be a view into a larger pool).
  const copy = new Uint8Array(p.bytes);
  worker.postMessage({ bytes: copy }, [copy.buffer]);
}

/** Decodes BMP or PPM/PGM bytes on the decode thread, one image at a time; the pixels come back without a copy. */
export function decodeLegacyOffThread(bytes: Uint8Array): Promise<RawImage> {
  return new Promise<RawImage>((resolve, reject) => {
    waiting.push({ bytes, resolve, reject });
    next();
  });
}
