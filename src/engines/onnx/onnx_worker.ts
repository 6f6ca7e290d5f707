// Worker-thread side of the worker runner (see session.ts). onnxruntime-node's `run` computes
// synchronously on the calling thread (it only defers the call with setImmediate), so a session on the
// main thread blocks decoding, augmentation and tfjs while it runs. In a worker it blocks only the worker.
// Buffers cross the thread boundary by transfer, not by copy.
//
// The worker is plain JavaScript evaluated from this string: Node does not pass tsx's TypeScript loader
// on to worker threads, and a string works the same from source and from the built package.

export interface WorkerSessionOptions {
  intraOpNumThreads: number;
  interOpNumThreads: number;
  executionMode: 'sequential' | 'parallel';
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  executionProviders: string[];
  extra: Record<string, unknown>;
  optimizedModelFilePath?: string;
  logSeverityLevel?: number;
}

export type WorkerRequest =
  | { kind: 'create'; model: Uint8Array; options: WorkerSessionOptions }
  | { kind: 'run'; id: number; data: Float32Array; shape: number[]; maxRunBatch: number }
  | { kind: 'release' };

export type WorkerResponse =
  | { kind: 'created'; inputNames: string[]; outputNames: string[]; fixedBatch: boolean }
  | { kind: 'result'; id: number; outputs: { name: string; data: Float32Array; shape: number[]; type: string }[]; input: Float32Array }
  | { kind: 'error'; id?: number; message: string }
  | { kind: 'released' };

/** workerData: { ortPath } = the resolved path of onnxruntime-node's entry module. */
export const ONNX_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;

async function runOnce(data, shape) {
  const results = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, shape) });
  return session.outputNames.map((name) => ({ name, data: results[name].data, shape: results[name].dims.slice(), type: results[name].type }));
}

// Same chunking as the main-thread backend (session.ts runInChunks).
async function runInChunks(data, shape, maxRunBatch) {
  const n = shape[0];
  if (n <= maxRunBatch) return runOnce(data, shape);
  const rowSize = data.length / n;
  let outputs;
  for (let start = 0; start < n; start += maxRunBatch) {
    const count = Math.min(maxRunBatch, n - start);
    const part = await runOnce(data.subarray(start * rowSize, (start + count) * rowSize), [count, ...shape.slice(1)]);
    if (!outputs) outputs = part.map((o) => ({ ...o, data: new Float32Array((o.data.length / count) * n), shape: [n, ...o.shape.slice(1)] }));
    part.forEach((o, i) => outputs[i].data.set(o.data, start * (o.data.length / count)));
  }
  return outputs;
}

parentPort.on('message', async (request) => {
  try {
    if (request.kind === 'create') {
      session = await ort.InferenceSession.create(request.model, request.options);
      const meta = session.inputMetadata && session.inputMetadata[0];
      const fixedBatch = Boolean(meta && meta.shape && typeof meta.shape[0] === 'number');
      parentPort.postMessage({ kind: 'created', inputNames: [...session.inputNames], outputNames: [...session.outputNames], fixedBatch });
    } else if (request.kind === 'run') {
      const outputs = await runInChunks(request.data, request.shape, request.maxRunBatch);
      // The input buffer goes back too, so the main thread can refill it instead of allocating.
      const transfer = outputs.map((o) => o.data.buffer);
      if (!transfer.includes(request.data.buffer)) transfer.push(request.data.buffer);
      parentPort.postMessage({ kind: 'result', id: request.id, outputs, input: request.data }, transfer);
    } else if (request.kind === 'release') {
      if (session) await session.release();
      session = undefined;
      parentPort.postMessage({ kind: 'released' });
    }
  } catch (error) {
    parentPort.postMessage({ kind: 'error', id: request.kind === 'run' ? request.id : undefined, message: String(error && error.message || error) });
  }
});
`;
