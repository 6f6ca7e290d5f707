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
  resolve: (raw: RawImage) => void;
  reject: (error: Error) => void;
}

let worker: Worker | null = null;
const pending = new Map<number, Pending>();
let nextId = 1;

function start(): Worker {
  const tsxApi = entryUrl.pathname.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : undefined;
  const w = new Worker(BOOTSTRAP, { eval: true, workerData: { entry: entryUrl.href, tsxApi } });
  w.on('message', (msg: { id: number; raw?: RawImage; error?: string }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (pending.size === 0) w.unref();
    if (msg.raw) p.resolve(msg.raw);
    else p.reject(new LegacyFormatError(msg.error ?? 'decode failed'));
  });
  // A thread that dies (out of memory) fails what it held; the next call starts a new one.
  const fail = (why: string) => {
    if (worker === w) worker = null;
    for (const [id, p] of pending) {
      pending.delete(id);
      p.reject(new Error(`legacy decode thread stopped: ${why}`));
    }
  };
  w.on('error', (error) => fail(error.message));
  w.on('exit', (code) => fail(`exit code ${code}`));
  w.unref();
  return w;
}

/** Decodes BMP or PPM/PGM bytes on the decode thread. The bytes are copied to it; the pixels come back without a copy. */
export function decodeLegacyOffThread(bytes: Uint8Array): Promise<RawImage> {
  worker ??= start();
  const w = worker;
  const id = nextId++;
  return new Promise<RawImage>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    // A fresh copy of exactly these bytes, handed over (a Buffer may be a view into a larger pool).
    const copy = new Uint8Array(bytes);
    w.postMessage({ id, bytes: copy }, [copy.buffer]);
  });
}
