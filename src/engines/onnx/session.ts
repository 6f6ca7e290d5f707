// A thin onnxruntime-node session for float32 graphs with one input: bytes in, Float32Arrays or tf
// tensors out. Input data is handed to onnxruntime without copying (an ort.Tensor views the caller's
// Float32Array); the only copies are the ones the engines force (tfjs -> JS heap, ort -> tfjs).
//
// onnxruntime-node computes `run` synchronously on the calling thread. With `worker: true` the session
// lives in a worker thread instead, so the main thread keeps decoding, augmenting and training while the
// frozen part runs (buffers are transferred, not copied, where the caller's data is ours to give).
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { invalidArgument, TlkitError } from '../../core/errors.js';
import { tf } from '../tfjs/tf.js';
import { readTensorData } from './tensor_data.js';
import { ONNX_WORKER_SOURCE, type WorkerRequest, type WorkerResponse, type WorkerSessionOptions } from './onnx_worker.js';

export interface OnnxRunnerOptions {
  /** Threads of one operator. Default: os.availableParallelism(). */
  intraOpNumThreads?: number;
  /** onnxruntime graph optimisations. Default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Run the session in a worker thread, leaving the main thread free. Default false. */
  worker?: boolean;
  /**
   * Let idle intra-op threads spin while waiting for work (onnxruntime's own default). Default false:
   * tlkit shares the cores with decoding, augmentation and the tfjs head, and on a loaded 2-core machine
   * spinning halved MobileNetV2's throughput (32 vs 60 img/s); on an idle one it gains little.
   */
  allowSpinning?: boolean;
  /**
   * Largest batch given to onnxruntime in one call; bigger batches run in slices of this size, their
   * outputs written into one result. Smaller slices keep activations in cache: on this 2-core machine
   * MobileNetV2 ran ~25% faster as 4 x 8 images than as 1 x 32. Default 8.
   */
  maxRunBatch?: number;
  /** Where onnxruntime writes the graph as it optimised it (the compiled-graph cache, compiled_cache.ts). */
  saveOptimizedModelTo?: string;
  /**
   * Independent sessions, each in its own worker thread, that share every batch's rows between them and
   * run at the same time: the rows wait in one queue, in chunks of at most `maxRunBatch` rows, and a free
   * session takes the next chunk (of this batch or of one run meanwhile). The intra-op threads are shared
   * out among the sessions (at least one each). Default 1.
   * Several one-thread sessions waste less than one session whose threads meet after every operator:
   * on this 2-core machine, 2 x 1 thread ran MobileNetV2@224 (batch 16, slices of 1) 1.2x as fast as
   * 1 x 2 threads, float32 and int8 alike (docs/deployment.md). A batch of one row runs on one session
   * (the first free one), with its share of the threads. Implies `worker`.
   */
  sessions?: number;
}

export interface OnnxOutput {
  data: Float32Array;
  shape: number[];
}

export interface OnnxRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the graph on a float32 batch of `shape` (NHWC for images); returns the first output. */
  run(x: Float32Array, shape: readonly number[]): Promise<OnnxOutput>;
  /** Same, from and to tf tensors (the result belongs to the caller; dispose it). */
  run(x: tf.Tensor): Promise<tf.Tensor>;
  /** Every output, by name. */
  runAll(x: Float32Array, shape: readonly number[]): Promise<Record<string, OnnxOutput>>;
  dispose(): Promise<void>;
}

/** What both backends (same thread, worker thread) provide. */
interface SessionBackend {
  inputNames: readonly string[];
  outputNames: readonly string[];
  /** The graph takes one batch size only: its batches are never sliced or split. */
  fixedBatch: boolean;
  /**
   * Runs on the caller's data, in slices of maxRunBatch: read in place or copied, never taken over,
   * unless `give` says the data (all of its buffer) is the backend's to keep.
   */
  run(data: Float32Array, shape: readonly number[], give?: boolean): Promise<Record<string, OnnxOutput>>;
  /** Runs on a tf tensor's values, staged in buffers the backend reuses. */
  runTensor(x: tf.Tensor): Promise<Record<string, OnnxOutput>>;
  /** A buffer of `length` values a past run handed back (to fill and give to `run`), if the backend keeps them. */
  takeBuffer?(length: number): Float32Array | undefined;
  release(): Promise<void>;
}

export function defaultThreadCount(): number {
  // A queue worker running several runs at once gives each its share of the cores this way.
  const fromEnv = Number(process.env.TLKIT_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * Options for running many images (`tlkit predict` / `evaluate` over folders, the server): one
 * single-thread session per thread, each taking its share of a batch's rows one row at a time (see
 * `sessions`). Each session holds its own copy of the model (~300 MB for inception_v3), which is why
 * the frozen prefix of a training run does not use it (docs/training-engines.md). Options given win.
 */
export function throughputOptions<T extends OnnxRunnerOptions>(options: T = {} as T): T {
  const threads = options.intraOpNumThreads ?? defaultThreadCount();
  const sessions = options.sessions ?? threads;
  return { ...options, intraOpNumThreads: threads, sessions, maxRunBatch: options.maxRunBatch ?? (sessions > 1 ? 1 : undefined) };
}

/**
 * tlkit's CPU session settings: `threads` intra-op threads that sleep instead of spinning (on a shared
 * 2-core machine spinning costs more than it saves), one inter-op thread, sequential execution, every
 * graph optimisation, and denormals flushed (frozen random or barely-active layers can produce them,
 * which x86 computes ~100x slower). The graphs tlkit builds for itself (the probe's, the audit's) use
 * it as is; createOnnxRunner adds its own options.
 */
export function cpuSessionOptions(threads: number, allowSpinning = false): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    logSeverityLevel: 3,
    extra: { session: { set_denormal_as_zero: '1', intra_op: { allow_spinning: allowSpinning ? '1' : '0' } } },
  };
}

/** Creates an onnxruntime-node session from ONNX model bytes (e.g. `exportOnnx`'s result). */
export async function createOnnxRunner(modelBytes: Uint8Array, options: OnnxRunnerOptions = {}): Promise<OnnxRunner> {
  const threads = options.intraOpNumThreads ?? defaultThreadCount();
  if (!Number.isInteger(threads) || threads < 1) throw invalidArgument('intraOpNumThreads', threads, 'a positive integer');
  const sessions = options.sessions ?? 1;
  if (!Number.isInteger(sessions) || sessions < 1) throw invalidArgument('sessions', sessions, 'a positive integer');
  const maxRunBatch = options.maxRunBatch ?? DEFAULT_MAX_RUN_BATCH;
  if (!Number.isInteger(maxRunBatch) || maxRunBatch < 1) throw invalidArgument('maxRunBatch', maxRunBatch, 'a positive integer');
  const { logSeverityLevel: _quiet, ...base } = cpuSessionOptions(Math.max(1, Math.floor(threads / sessions)), options.allowSpinning);
  const sessionOptions = {
    ...base,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    ...(options.saveOptimizedModelTo ? { optimizedModelFilePath: options.saveOptimizedModelTo, logSeverityLevel: 3 } : {}),
  } as WorkerSessionOptions;
  let backend: SessionBackend;
  try {
    if (sessions > 1) {
      // Only the first session writes the optimised graph (the others would write the same file at once).
      const { optimizedModelFilePath: _once, ...others } = sessionOptions as WorkerSessionOptions & { optimizedModelFilePath?: string };
      backend = pooledBackend(await createAll(sessions, (i) => workerBackend(modelBytes, i === 0 ? sessionOptions : (others as WorkerSessionOptions), maxRunBatch)), maxRunBatch);
    } else {
      backend = options.worker ? await workerBackend(modelBytes, sessionOptions, maxRunBatch) : await sameThreadBackend(modelBytes, sessionOptions, maxRunBatch);
    }
  } catch (error) {
    throw new TlkitError(`onnxruntime-node could not load the ONNX model: ${(error as Error).message}`, { cause: error });
  }
  if (backend.inputNames.length !== 1) {
    await backend.release();
    throw new TlkitError(`ONNX model has ${backend.inputNames.length} inputs (${backend.inputNames.join(', ')}); OnnxRunner feeds exactly one`);
  }

  function checkShape(data: Float32Array, shape: readonly number[]): void {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw invalidArgument('shape', shape, `dims whose product is the data length ${data.length}`);
  }

  async function run(x: Float32Array, shape: readonly number[]): Promise<OnnxOutput>;
  async function run(x: tf.Tensor): Promise<tf.Tensor>;
  async function run(x: Float32Array | tf.Tensor, shape?: readonly number[]): Promise<OnnxOutput | tf.Tensor> {
    const first = backend.outputNames[0];
    if (x instanceof Float32Array) {
      if (!shape) throw invalidArgument('shape', shape, 'the dims of the Float32Array batch');
      checkShape(x, shape);
      return (await backend.run(x, shape))[first];
    }
    if (x.dtype !== 'float32') throw invalidArgument('x.dtype', x.dtype, "'float32'");
    const output = (await backend.runTensor(x))[first];
    return tf.tensor(output.data, output.shape, 'float32');
  }

  return {
    inputNames: backend.inputNames,
    outputNames: backend.outputNames,
    run,
    async runAll(x, shape) {
      checkShape(x, shape);
      return backend.run(x, shape);
    },
    dispose: () => backend.release(),
  };
}

export const DEFAULT_MAX_RUN_BATCH = 8;

/** A graph exported with a fixed batch size accepts only that size: never slice its batches. */
function hasFixedBatch(session: { inputMetadata?: readonly unknown[] }): boolean {
  const meta = session.inputMetadata?.[0] as { shape?: unknown[] } | undefined;
  return typeof meta?.shape?.[0] === 'number';
}

type Outputs = Record<string, OnnxOutput>;

/** Runs `runOnce` on slices of at most `maxRunBatch` rows and writes the slices' outputs into one result. */
export async function runInChunks(
  runOnce: (data: Float32Array, shape: readonly number[]) => Promise<Outputs>,
  data: Float32Array,
  shape: readonly number[],
  maxRunBatch: number,
): Promise<Outputs> {
  const n = shape[0];
  if (n <= maxRunBatch) return runOnce(data, shape);
  const rowSize = data.length / n;
  let result: Outputs | undefined;
  for (let start = 0; start < n; start += maxRunBatch) {
    const count = Math.min(maxRunBatch, n - start);
    // subarray: a view; onnxruntime reads the slice in place.
    const part = await runOnce(data.subarray(start * rowSize, (start + count) * rowSize), [count, ...shape.slice(1)]);
    result ??= Object.fromEntries(
      Object.entries(part).map(([name, o]) => [name, { data: new Float32Array((o.data.length / count) * n), shape: [n, ...o.shape.slice(1)] }]),
    );
    for (const [name, o] of Object.entries(part)) result[name].data.set(o.data, start * (o.data.length / count));
  }
  return result!;
}

async function sameThreadBackend(modelBytes: Uint8Array, options: WorkerSessionOptions, maxRunBatch: number): Promise<SessionBackend> {
  const session = await ort.InferenceSession.create(modelBytes, options as ort.InferenceSession.SessionOptions);
  const inputName = session.inputNames[0];
  async function runOnce(data: Float32Array, shape: readonly number[]): Promise<Outputs> {
    const results = await session.run({ [inputName]: new ort.Tensor('float32', data, shape) });
    const outputs: Record<string, OnnxOutput> = {};
    for (const name of session.outputNames) {
      const value = results[name];
      if (value.type !== 'float32') throw new TlkitError(`ONNX output '${name}' is ${value.type}, expected float32`);
      outputs[name] = { data: value.data as Float32Array, shape: value.dims.slice() };
    }
    return outputs;
  }
  const sliceSize = hasFixedBatch(session) ? Infinity : maxRunBatch;
  const run = (data: Float32Array, shape: readonly number[]): Promise<Outputs> => runInChunks(runOnce, data, shape, sliceSize);
  // One staging buffer, so tensor runs are serialised: the next may refill it only after this one ran.
  let staging: Float32Array | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    fixedBatch: hasFixedBatch(session),
    run,
    runTensor(x) {
      const task = queue.then(() => {
        if (!staging || staging.length < x.size) staging = new Float32Array(x.size);
        return run(readTensorData(x, staging), x.shape);
      });
      queue = task.catch(() => undefined);
      return task;
    },
    release: () => session.release(),
  };
}

async function workerBackend(modelBytes: Uint8Array, options: WorkerSessionOptions, maxRunBatch: number): Promise<SessionBackend> {
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  const worker = new Worker(ONNX_WORKER_SOURCE, { eval: true, workerData: { ortPath } });
  // An idle worker must not keep the process alive; it is ref'd only while a request is pending.
  worker.unref();
  let nextId = 0;
  // Input buffers come back from the worker with each result and are refilled by the next tensor run.
  const freeBuffers: Float32Array[] = [];
  const pending = new Map<number, { resolve(outputs: Record<string, OnnxOutput>): void; reject(error: Error): void }>();
  let control: { resolve(response: WorkerResponse): void; reject(error: Error): void } | undefined;
  const updateRef = (): void => {
    if (pending.size > 0 || control) worker.ref();
    else worker.unref();
  };
  const failAll = (error: Error): void => {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
    control?.reject(error);
    control = undefined;
  };
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new TlkitError(`onnxruntime worker exited (code ${code})`)));
  worker.on('message', (response: WorkerResponse) => {
    if (response.kind === 'result' || (response.kind === 'error' && response.id !== undefined)) {
      const id = (response as { id: number }).id;
      const p = pending.get(id);
      pending.delete(id);
      if (response.kind === 'result' && response.input) {
        freeBuffers.push(response.input);
        if (freeBuffers.length > 4) freeBuffers.shift();
      }
      updateRef();
      if (!p) return;
      if (response.kind === 'error') p.reject(new TlkitError(`onnxruntime: ${response.message}`));
      else {
        const outputs: Record<string, OnnxOutput> = {};
        for (const o of response.outputs) {
          if (o.type !== 'float32') return p.reject(new TlkitError(`ONNX output '${o.name}' is ${o.type}, expected float32`));
          outputs[o.name] = { data: o.data, shape: o.shape };
        }
        p.resolve(outputs);
      }
    } else {
      const c = control;
      control = undefined;
      updateRef();
      if (response.kind === 'error') c?.reject(new Error(response.message));
      else c?.resolve(response);
    }
  });
  const request = (message: WorkerRequest): Promise<WorkerResponse> =>
    new Promise((resolve, reject) => {
      control = { resolve, reject };
      updateRef();
      worker.postMessage(message);
    });

  let created: WorkerResponse;
  try {
    created = await request({ kind: 'create', model: modelBytes, options });
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  const { inputNames, outputNames, fixedBatch } = created as Extract<WorkerResponse, { kind: 'created' }>;
  const sliceSize = fixedBatch ? Infinity : maxRunBatch;
  function takeBuffer(length: number): Float32Array | undefined {
    const index = freeBuffers.findIndex((b) => b.length === length);
    return index >= 0 ? freeBuffers.splice(index, 1)[0] : undefined;
  }
  function post(data: Float32Array, shape: readonly number[], transfer: boolean): Promise<Record<string, OnnxOutput>> {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      updateRef();
      const message: WorkerRequest = { kind: 'run', id, data, shape: [...shape], maxRunBatch: sliceSize };
      worker.postMessage(message, transfer ? [data.buffer as ArrayBuffer] : []);
    });
  }
  return {
    inputNames,
    outputNames,
    fixedBatch,
    run(data, shape, give = false) {
      const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      // A view of a larger buffer would be cloned with all of that buffer: its own rows are copied and moved.
      if (!whole) return post(data.slice(), shape, true);
      return post(data, shape, give);
    },
    takeBuffer,
    runTensor(x) {
      const buffer = takeBuffer(x.size) ?? new Float32Array(x.size);
      const data = readTensorData(x, buffer);
      // Transfer only our own staging buffer (never a backend's storage): moved, not copied.
      return post(data, x.shape, data.buffer === buffer.buffer && data.length === buffer.length);
    },
    async release() {
      try {
        await request({ kind: 'release' });
      } finally {
        worker.removeAllListeners('exit');
        await worker.terminate();
      }
    },
  };
}

/** Creates `count` backends; if one fails, releases the others and rethrows. */
async function createAll(count: number, create: (index: number) => Promise<SessionBackend>): Promise<SessionBackend[]> {
  const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => create(i)));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const made = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed) {
    await Promise.allSettled(made.map((b) => b.release()));
    throw failed.reason;
  }
  return made;
}

/**
 * A batch of `n` rows cut into `parts` chunks `[start, end)`: contiguous, sizes differing by at most one,
 * the larger first; never an empty chunk (fewer chunks when `n < parts`).
 */
export function splitRows(n: number, parts: number): { start: number; end: number }[] {
  const used = Math.min(n, parts);
  const base = Math.floor(n / used);
  const extra = n % used;
  const ranges: { start: number; end: number }[] = [];
  for (let i = 0, start = 0; i < used; i++) {
    const end = start + base + (i < extra ? 1 : 0);
    ranges.push({ start, end });
    start = end;
  }
  return ranges;
}

/**
 * Several sessions as one. Each batch's rows are cut into chunks (an equal share per session, or smaller
 * where that exceeds `chunkRows`) that wait in one queue; a session takes the next chunk the moment it is
 * free, whichever batch it belongs to. So no session idles while rows wait: not at a batch's end (the
 * other session still on its last rows), nor between batches when several are in flight (a server's
 * overlapping model calls), nor for a batch of one row (which a fixed split gave to the first session
 * every time). Outputs are joined in row order.
 */
function pooledBackend(backends: SessionBackend[], chunkRows: number): SessionBackend {
  const [first] = backends;
  interface Chunk {
    /** The chunk's rows, in the caller's batch (read when a session takes them). */
    rows: Float32Array;
    shape: number[];
    resolve(outputs: Outputs): void;
    reject(error: unknown): void;
  }
  const waiting: Chunk[] = [];
  const free = [...backends];
  function startWaiting(): void {
    while (free.length > 0 && waiting.length > 0) {
      const backend = free.shift()!;
      const chunk = waiting.shift()!;
      // The session gets its own copy, handed over (a view would send the whole batch to its worker), in a
      // buffer one of its past runs gave back when there is one: no new memory to fault in per chunk.
      const own = backend.takeBuffer?.(chunk.rows.length) ?? new Float32Array(chunk.rows.length);
      own.set(chunk.rows);
      backend
        .run(own, chunk.shape, true)
        .then(chunk.resolve, chunk.reject)
        .finally(() => {
          free.push(backend);
          startWaiting();
        });
    }
  }
  async function run(data: Float32Array, shape: readonly number[]): Promise<Outputs> {
    const n = shape[0];
    if (first.fixedBatch) return first.run(data, shape);
    const rowSize = data.length / n;
    const ranges = splitRows(n, Math.max(backends.length, Math.ceil(n / chunkRows)));
    const parts = ranges.map(
      ({ start, end }) =>
        new Promise<Outputs>((resolve, reject) => {
          waiting.push({ rows: data.subarray(start * rowSize, end * rowSize), shape: [end - start, ...shape.slice(1)], resolve, reject });
        }),
    );
    startWaiting();
    const outputs = await Promise.all(parts);
    if (outputs.length === 1) return outputs[0];
    const joined: Outputs = {};
    for (const name of Object.keys(outputs[0])) {
      const perRow = outputs[0][name].data.length / (ranges[0].end - ranges[0].start);
      const out = new Float32Array(perRow * n);
      outputs.forEach((part, i) => out.set(part[name].data, ranges[i].start * perRow));
      joined[name] = { data: out, shape: [n, ...outputs[0][name].shape.slice(1)] };
    }
    return joined;
  }
  return {
    inputNames: first.inputNames,
    outputNames: first.outputNames,
    fixedBatch: first.fixedBatch,
    run,
    // The tensor's values are read once into a new array: the sessions read their rows from it in place.
    runTensor: (x) => run(readTensorData(x, new Float32Array(x.size)), x.shape),
    release: async () => {
      await Promise.all(backends.map((b) => b.release()));
    },
  };
}
