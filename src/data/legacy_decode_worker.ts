// Entry of the legacy-format decode thread (legacy_decode_thread.ts): BMP and PPM/PGM bytes in, raw
// pixels out (transferred, not copied). Failures go back as the decoder's message.
import { parentPort } from 'node:worker_threads';
import { decodeBmp, decodeNetpbm, isBmp } from './legacy_formats.js';

parentPort?.on('message', (msg: { bytes: Uint8Array }) => {
  try {
    const raw = isBmp(msg.bytes) ? decodeBmp(msg.bytes) : decodeNetpbm(msg.bytes);
    parentPort!.postMessage({ raw }, [raw.data.buffer as ArrayBuffer]);
  } catch (error) {
    parentPort!.postMessage({ error: (error as Error).message });
  }
});
